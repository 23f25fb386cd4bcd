// hilo's C++ client API: what frameworks and C++ training loops call.
//
//   absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init();  // HILO_* env
//   if (!hilo.ok()) { std::cerr << hilo.status() << "\n"; return 1; }
//   hilo::CollectiveOptions group_average;
//   group_average.communicator = hilo::CommunicatorKind::kGroup;
//   group_average.reduce_op = hilo::ReduceOp::kAverage;
//   absl::StatusOr<hilo::Handle> h = (*hilo)->Allreduce(
//       "grad/w1", {grads.data(), hilo::DataType::kFloat32, {256, 64}}, group_average);
//   ... backward continues ...
//   absl::Status done = h->Wait(absl::Seconds(60));
//
// Thread-safety: every Context method may be called from any thread; Handle is a cheap shared
// reference and its methods are thread-safe. Enqueue methods never block on the network.
// Tensor memory belongs to the caller and must stay valid and untouched until the handle is
// done; allreduce and broadcast work in place, allgather's result is owned by the handle.
#ifndef HILO_CLIENT_HILO_CPP_H_
#define HILO_CLIENT_HILO_CPP_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/dtype.h"
#include "runtime/common/config.h"
#include "runtime/averaging/local_sgd_schedule.h"
#include "runtime/operation.h"
#include "runtime/parameters.h"
#include "runtime/observability/runtime_stats.h"
#include "runtime/topology.h"
#include "runtime/transport/transport_counters.h"

namespace hilo {
class Runtime;
}  // namespace hilo

namespace hilo {

// A caller-owned tensor: `data` holds the product of `shape` elements of `dtype`.
struct TensorView {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;
  // -1: host memory. Otherwise the CUDA device `data` is on (allreduce, broadcast and averaging
  // rounds, whose parameters must all be in one kind of memory).
  int device = -1;
  // For device tensors: a cudaEvent_t recorded on the framework's stream after the tensor was
  // produced, or nullptr. hilo's stream waits for it; the host never blocks on it.
  void* ready_event = nullptr;
};

// Options of one collective; fields are only ever added, with defaults that keep old behaviour.
struct CollectiveOptions {
  CommunicatorKind communicator = CommunicatorKind::kWorld;
  ReduceOp reduce_op = ReduceOp::kSum;  // allreduce and reducescatter
  int root_rank = 0;                    // broadcast only: rank within the communicator
  // Alltoall only: rows of the first dimension for each rank of the communicator, in rank order,
  // summing to the first dimension; empty: an even split (the first dimension must divide).
  std::vector<int64_t> splits;
  // Runs once on hilo's coordinator thread when the operation completes, before waiters wake;
  // keep it short and do not wait on handles inside it.
  std::function<void(const absl::Status&)> on_complete;
};

// Options of one cross-group averaging round; unset fields take the runtime's config
// (HILO_AVERAGING_ALGORITHM, HILO_CHECK_GROUP_CONSISTENCY).
struct AveragingOptions {
  std::optional<AveragingAlgorithm> algorithm;
  std::optional<bool> check_group_consistency;
  // As in CollectiveOptions, except that it runs on hilo's averaging thread when the round ran
  // there (host parameters, sharded; HILO_AVERAGING_THREAD).
  std::function<void(const absl::Status&)> on_complete;
};

// What this build of hilo contains (hilorun --check-build prints the same, and more).
struct BuildInfo {
  bool cuda = false;     // the CUDA kernels and the NCCL data plane
  int nccl_version = 0;  // NCCL_VERSION_CODE of the nccl.h built against; 0 without CUDA
};
BuildInfo GetBuildInfo();

// The caller's reference to one enqueued collective.
class Handle {
 public:
  Handle() = default;  // refers to nothing; valid() is false

  bool valid() const { return operation_ != nullptr; }
  // True once the operation is done, successfully or not. Never blocks.
  bool Poll() const;
  // Blocks until done or `timeout` passes. Returns the operation's status, or DEADLINE_EXCEEDED
  // if it is still in flight (it then keeps running; call Wait again).
  absl::Status Wait(absl::Duration timeout = absl::InfiniteDuration()) const;
  // The operation's status once done; nullopt while in flight. Never blocks.
  std::optional<absl::Status> result() const;
  // Allgather, reducescatter or alltoall result and its shape, once done; empty otherwise.
  const std::vector<char>& output() const;
  const std::vector<int64_t>& output_shape() const;
  // Averaging rounds: the model discrepancy D the round measured, once done and successful.
  std::optional<double> discrepancy() const;
  // Alltoall: the rows received from each rank of the communicator, in rank order, once done.
  const std::vector<int64_t>& received_splits() const;

 private:
  friend class Context;
  explicit Handle(std::shared_ptr<Operation> operation) : operation_(std::move(operation)) {}
  std::shared_ptr<Operation> operation_;
};

class Context {
 public:
  // Starts hilo with the HILO_* environment (docs/configuration.md). Collective over the job's
  // ranks; blocks until the communicators exist. See hilo_init in hilo.h for the errors.
  static absl::StatusOr<std::unique_ptr<Context>> Init();
  // Same with an explicit config (tests, launchers, framework adapters with their own settings).
  static absl::StatusOr<std::unique_ptr<Context>> Init(const RuntimeConfig& config);

  ~Context();  // shuts down if still running

  // Collective: returns once every rank has called it (until then this rank still takes part in
  // the others' collectives). Pending operations then fail with FAILED_PRECONDITION. Afterwards
  // every method returns FAILED_PRECONDITION. Idempotent.
  absl::Status Shutdown();

  // Horovod's join: this rank has no more data. Until every rank has joined it takes part in
  // the others' allreduces with zeros (an average still divides by the communicator's size, as
  // Horovod's) and in their allgathers with no rows; their broadcasts, reducescatters,
  // alltoalls and averaging rounds fail with FAILED_PRECONDITION. Host tensors only.
  // Blocks until every rank has joined and returns the world rank that joined last; afterwards
  // collectives run as before.
  absl::StatusOr<int> Join();

  // Horovod's start_timeline / stop_timeline: world rank 0 records a Chrome trace of the
  // coordinator's work (negotiation, transport, averaging rounds; with `mark_cycles` also each
  // coordinator cycle's start) in `path` until StopTimeline closes it. Replaces a running
  // timeline (HILO_TIMELINE's too). Other ranks record nothing and return OK.
  absl::Status StartTimeline(const std::string& path, bool mark_cycles = false);
  absl::Status StopTimeline();

  // The settings this context runs with (HILO_* environment or Init's argument).
  const RuntimeConfig& config() const;

  // This rank's place in the job; FAILED_PRECONDITION after shutdown.
  absl::StatusOr<Topology> topology() const;

  // Enqueue collectives (see hilo.h for the rules shared with the C API).
  absl::StatusOr<Handle> Allreduce(absl::string_view name, const TensorView& tensor,
                                   const CollectiveOptions& options = {});
  absl::StatusOr<Handle> Allgather(absl::string_view name, const TensorView& tensor,
                                   const CollectiveOptions& options = {});
  absl::StatusOr<Handle> Broadcast(absl::string_view name, const TensorView& tensor,
                                   const CollectiveOptions& options = {});
  absl::StatusOr<Handle> Reducescatter(absl::string_view name, const TensorView& tensor,
                                       const CollectiveOptions& options = {});
  // Rows options.splits[j] of the first dimension go to rank j; the result is every rank's rows
  // for this one, concatenated in rank order (received_splits() says how many from each).
  absl::StatusOr<Handle> Alltoall(absl::string_view name, const TensorView& tensor,
                                  const CollectiveOptions& options = {});

  // Enqueue one cross-group model-averaging round over `parameters` (floating-point tensors,
  // updated in place; the list — order, dtypes, sizes — must be the same on every rank, or the
  // round fails everywhere with INVALID_ARGUMENT). Collective over the world: every rank calls it
  // with the same name. See docs/averaging.md for the algorithm and the metric.
  absl::StatusOr<Handle> AverageAcrossGroups(absl::string_view name,
                                             const std::vector<TensorView>& parameters,
                                             const AveragingOptions& options = {});

  // Model discrepancy of the latest averaging round (NOT_FOUND before the first one), and the
  // recent rounds oldest first.
  absl::StatusOr<double> LatestDiscrepancy() const;
  absl::StatusOr<std::vector<AveragingRecord>> AveragingHistory() const;

  // The local-SGD schedule for this job's topology: averaging period `tau` steps, after
  // `warmup_steps` fully synchronous ones (see runtime/averaging/local_sgd_schedule.h).
  absl::StatusOr<LocalSgdSchedule> MakeLocalSgdSchedule(int tau, int64_t warmup_steps) const;

  // Payload this rank has handed to the transport on one communicator, since init.
  absl::StatusOr<transport::TransportCounters> TransportCounters(CommunicatorKind kind) const;

  // Response-cache hits and misses on this rank since init (docs/protocol.md).
  absl::StatusOr<CacheStats> ResponseCacheStats() const;

  // Negotiation agreements this rank took part in since init, world-wide and group-only
  // (docs/protocol.md, "Cycles").
  absl::StatusOr<AgreementCounts> NegotiationAgreements() const;

  // Tensors that some ranks submitted and others have not for HILO_STALL_WARNING_SECONDS, as
  // this rank sees them: a communicator's stalls are seen by its rank 0 (world rank 0 sees the
  // world's). Oldest first; empty when nothing is stalled.
  absl::StatusOr<std::vector<StallReport>> CurrentStalls() const;

  // Reports that the program finished a training step: the status endpoint and hilorun's
  // progress line show steps per second from it. Optional; thread-safe; cheap.
  void CountStep();

  // Tensors enqueued on this rank and not yet done.
  absl::StatusOr<size_t> queue_depth() const;

  // Horovod's mpi_threads_supported(): MPI runs with MPI_THREAD_MULTIPLE, so other threads of the
  // program (mpi4py, say) may call MPI too.
  absl::StatusOr<bool> mpi_threads_supported() const;

 private:
  explicit Context(std::unique_ptr<Runtime> runtime);
  absl::StatusOr<Handle> Enqueue(CollectiveType collective, absl::string_view name,
                                 const TensorView& tensor, const CollectiveOptions& options);
  absl::Status CheckRunning() const;

  const std::unique_ptr<Runtime> runtime_;  // lives as long as the context
  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace hilo

#endif  // HILO_CLIENT_HILO_CPP_H_
