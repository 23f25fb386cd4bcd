// One collective type's rules, in one place.
//
// Each collective type has one CollectiveOp, in its own file (allreduce_op.cc, allgather_op.cc,
// broadcast_op.cc, reducescatter_op.cc, alltoall_op.cc, averaging_round_op.cc), which says
// everything hilo knows about it:
//   * enqueue: what one rank alone can check of a request (request_validator.h runs the checks
//     every collective shares first, then the op's);
//   * negotiation: what every rank's requests must agree on, how a disagreement is described,
//     the response the coordinator builds once they agree, and whether the response cache may
//     replay that response;
//   * join (hvd.join): whether it runs while ranks have joined, and what a joined rank stands in
//     with;
//   * execution: the data movement it runs on the data plane the executor lends it.
// The validator, the readiness table, the controller's cache and the response executor look the
// op up (OpFor) instead of switching on the type, so adding a collective means adding one op
// file and one line in collective_op.cc's table (docs/architecture.md lists the rest).
//
// Ops are stateless and immutable: any thread may use them.
#ifndef HILO_RUNTIME_OPS_COLLECTIVE_OP_H_
#define HILO_RUNTIME_OPS_COLLECTIVE_OP_H_

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/negotiation.pb.h"
#include "runtime/execution/collectives.h"
#include "runtime/execution/data_plane.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/operation.h"
#include "runtime/topology.h"
#include "runtime/transport/communicator.h"

namespace hilo {

// What the response executor lends an op to run one tensor on one communicator.
class ExecutionContext {
 public:
  virtual ~ExecutionContext() = default;
  // The data plane for `requests`' memory: the host plane, or for CUDA tensors the NCCL plane,
  // whose stream then waits for the tensors' framework events.
  virtual absl::StatusOr<DataPlane*> PlaneFor(absl::Span<const TensorRequest* const> requests) = 0;
  // The host communicator, for the collectives that run on host memory only.
  virtual transport::Communicator& HostCommunicator() = 0;
  // Hands `entry` to the averaging rounds (runtime/averaging/averaging_rounds.h), which complete
  // its operation, possibly later on the averaging thread.
  virtual void StartRound(TensorEntry entry, AveragingAlgorithm algorithm,
                          bool check_group_consistency) = 0;
};

// (what differs, "value on ranks ..; value on rank ..") pairs, in order of how fundamental the
// difference is; an empty description where the ranks agree.
using Differences = std::vector<std::pair<std::string, std::string>>;

class CollectiveOp {
 public:
  virtual ~CollectiveOp() = default;

  virtual CollectiveType type() const = 0;

  // ---- Enqueue ----
  // False for a collective without a tensor of its own (an averaging round: its parameters are
  // its data); the validator then skips the reduce-op, shape and data checks.
  virtual bool has_tensor() const { return true; }
  // The op's own rules for `request`, whose name, enums, device, shape and data have passed the
  // shared checks. INVALID_ARGUMENT naming the tensor and what is wrong.
  virtual absl::Status Validate(const TensorRequest& request, const Topology& topology) const;
  // Fills in what a valid request left to its default (Horovod's: an even alltoall split).
  virtual void ApplyDefaults(TensorRequest& request, const Topology& topology) const {}

  // ---- Negotiation ----
  // Whether `other` asks for what `first` asks, beyond the collective, dtype and memory that
  // every collective compares. The common case, decided without building any message.
  virtual bool Agree(const proto::Request& first, const proto::Request& other) const = 0;
  // What may differ across `requests` (one per rank) beyond the collective, dtype and memory,
  // described with DescribeByRank; the readiness table reports the first difference found.
  virtual void DescribeDifferences(const std::vector<proto::Request>& requests,
                                   Differences& differences) const = 0;
  // The fields of the agreed response beyond its names, collective, dtype, memory, reduce op and
  // root, from the reporting ranks' `requests` on a communicator of `communicator_size`. An
  // INVALID_ARGUMENT message for what only the set of requests shows wrong.
  virtual absl::Status FillResponse(const std::vector<proto::Request>& requests,
                                    int communicator_size, proto::Response& response) const {
    return absl::OkStatus();
  }
  // Whether the response cache may replay the response to a request with the same signature
  // (response_cache.h): false when the response depends on more than the signature.
  virtual bool cacheable() const = 0;

  // ---- Join (hvd.join) ----
  // Whether the collective runs while some ranks have joined (they stand in for it); if not, the
  // tensor fails with a message saying which collectives do.
  virtual bool runs_while_joined() const { return false; }
  // Adjusts the response built from the reporters' requests for the ranks that joined instead:
  // `by_rank[r]` is communicator rank r's request, nullptr where r has joined.
  virtual void AdmitJoined(const std::vector<const proto::Request*>& by_rank,
                           proto::Response& response) const {}
  // A joined rank's stand-in for tensor `index` of host-memory `response` on `kind` (a tensor it
  // never enqueued), whose buffer, if any, it appends to `buffers`; nullopt where it has none.
  virtual std::optional<TensorEntry> StandIn(CommunicatorKind kind,
                                             const proto::Response& response, int index,
                                             std::deque<std::vector<char>>& buffers) const {
    return std::nullopt;
  }

  // ---- Execution ----
  // Runs `entry`'s collective as `response` says, on every rank in the negotiated order, and
  // completes its operation (an averaging round: hands it to the rounds, which complete it).
  virtual void Execute(ExecutionContext& context, const proto::Response& response,
                       TensorEntry& entry) const = 0;
  // False when Execute hands the operation on instead of completing it (an averaging round
  // reports its own timing when it finishes).
  virtual bool completes_in_execute() const { return true; }
};

// The op of collective `type`; nullptr for a number that names no collective.
const CollectiveOp* FindOp(int type);
// The op of a valid collective type.
const CollectiveOp& OpFor(CollectiveType type);
const CollectiveOp& OpFor(proto::CollectiveType type);

// ---- Helpers the ops share ----

// Groups the ranks by the value `describe` gives their request: "" when all agree, otherwise
// e.g. "[4] on ranks 0, 2, 3; [3] on rank 1" (world ranks).
std::string DescribeByRank(const std::vector<proto::Request>& requests,
                           const std::function<std::string(const proto::Request&)>& describe);
// Whether two requests have the same shape; and the same shape beyond the first dimension (at
// least one dimension each).
bool SameShape(const proto::Request& a, const proto::Request& b);
bool SameRowShape(const proto::Request& a, const proto::Request& b);
// Whether two averaging requests list the same parameter layout (dtype and count, in order).
bool SameParameters(const proto::Request& a, const proto::Request& b);
// DescribeByRank of the ranks' shapes ("[4, 2]"), shapes beyond the first dimension
// ("[*, 2]"), and reduce ops ("sum").
std::string DescribeShapes(const std::vector<proto::Request>& requests);
std::string DescribeRowShapes(const std::vector<proto::Request>& requests);
std::string DescribeReduceOps(const std::vector<proto::Request>& requests);
// Rules of the collectives that work along the first dimension into a host buffer the
// operation owns (allgather, reducescatter, alltoall): host memory, at least one dimension.
absl::Status ValidateRowCollective(const TensorRequest& request);
// The data plane for `entry`'s tensor alone.
absl::StatusOr<DataPlane*> PlaneForEntry(ExecutionContext& context, const TensorEntry& entry);
// Completes `operation` with a result it takes ownership of (or with the error).
void CompleteWithResult(Operation& operation, absl::StatusOr<OwnedResult> result);
// A stand-in entry for tensor `index` of `response` on `kind`, with no data yet.
TensorEntry StandInEntry(CommunicatorKind kind, const proto::Response& response, int index);

}  // namespace hilo

#endif  // HILO_RUNTIME_OPS_COLLECTIVE_OP_H_
