// Cross-group model averaging: the heart of hierarchical local SGD.
//
// Every member of a group holds the same model, so the average over the k groups does not need an
// allreduce over all P ranks. The parameters are laid out in one flat buffer per dtype, in the
// order given (identical on every rank: negotiation checks it), and split into G shards of
// nearly equal size (runtime/transport/sharded_steps.h, whose steps the hierarchical allreduce shares).
// Then:
//
//   1. member j of each group allreduces shard j over the cross communicator (the k ranks that
//      hold member position j) and divides by k: each cross set averages one shard;
//   2. each group allgathers its G shards over the group communicator, in place: every member
//      has the whole averaged model again.
//
// Across groups each rank moves about 2 (k-1)/k * N/G elements instead of 2 (P-1)/P * N for an
// allreduce over everybody: the slow links carry G times less. The baseline (one world allreduce
// divided by P, what PyTorch's average_parameters does) is selectable for comparison.
//
// Each round also yields the model discrepancy D = sum_g ||w_g - w_avg||^2 / (k ||w_avg||^2),
// from partial sums over the shard each rank averaged and one tiny allreduce of them (over the
// cross then the group communicator on host planes, over the world for device planes).
//
// Optionally (on in tests) it first checks that the members of every group really hold identical
// parameters: one allgather of 64-bit checksums over the world, so that every rank reaches the
// same verdict and no group is left waiting in a collective another group skipped.
//
// The parameters may be in host or CUDA device memory: all data movement and arithmetic goes
// through the round's data planes (communicator + kernels + workspace), so the same algorithm
// runs on MPI with the CPU kernels or on NCCL with the CUDA kernels on its streams.
//
// Collective over the world; called by one thread at a time (the coordinator, or the averaging
// thread while the coordinator waits for it before its next round: runtime/averaging/averaging_thread.h).
#ifndef HILO_RUNTIME_AVERAGING_CROSS_GROUP_AVERAGER_H_
#define HILO_RUNTIME_AVERAGING_CROSS_GROUP_AVERAGER_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/dtype.h"
#include "runtime/execution/data_plane.h"
#include "runtime/parameters.h"
#include "runtime/transport/sharded_steps.h"
#include "runtime/topology.h"
#include "runtime/transport/communicator.h"

namespace hilo {

struct AveragingRoundResult {
  double discrepancy = 0;  // D of this round (0 when the average is all zeros and so are groups)
  int64_t elements = 0;    // parameters averaged
};

// The data planes a round runs on, all for the parameters' memory. The sharded algorithm uses
// `group` and `cross` (and packs several tensors into the group plane's workspace); the
// world-allreduce baseline uses `world` alone. With one group neither is touched, unless the
// consistency check runs (it reads the parameters through the algorithm's plane).
struct AveragingPlanes {
  DataPlane* world = nullptr;
  DataPlane* group = nullptr;
  DataPlane* cross = nullptr;
};

class CrossGroupAverager {
 public:
  // `control` is the world over host memory (MPI): it carries the metric's partial sums (device
  // planes; host planes sum them over cross and group) and the
  // consistency check's checksums, a few bytes wherever the parameters live. It must outlive the
  // averager and match `topology`.
  CrossGroupAverager(const Topology& topology, transport::Communicator* control);

  // Averages `tensors` across groups, in place. Mixed dtypes are averaged one dtype at a time,
  // in order of first appearance. Floating-point dtypes only (INVALID_ARGUMENT otherwise).
  // FAILED_PRECONDITION, on every rank, if `check_group_consistency` finds group members whose
  // parameters differ (the message names them). When it returns OK the parameters hold the
  // average (on a GPU: the planes' streams have finished).
  // Whether a round reads the parameters at all, and so needs its data planes: with one group
  // the model already is the average, and only the consistency check reads it.
  bool ReadsParameters(bool check_group_consistency) const {
    return check_group_consistency || topology_.num_groups > 1;
  }

  // Whether the group and cross communicators may be driven from two threads at once (the
  // pipelined round): true when the cross transport is hilo's own (TCP ring) or MPI runs with
  // MPI_THREAD_MULTIPLE. Off by default.
  void set_concurrent_communicators(bool allowed) { concurrent_communicators_ = allowed; }

  // The check Run makes first when asked to: FAILED_PRECONDITION, on every rank, naming the
  // members of a group whose parameters differ. Reads them through `plane`'s kernels; collective
  // over `control`. For a caller that runs it on a thread of its own, before Run on another.
  absl::Status CheckGroupConsistency(absl::Span<const ParameterTensor> tensors,
                                     DataPlane& plane);

  absl::StatusOr<AveragingRoundResult> Run(absl::Span<const ParameterTensor> tensors,
                                           AveragingAlgorithm algorithm,
                                           bool check_group_consistency,
                                           const AveragingPlanes& planes);

  // Pipelined rounds (host memory, concurrent communicators allowed): a piece of at least this many elements (4 MiB of float32), at most this many pieces: each
  // piece is one cross allreduce and one allgather, with a start-up bubble of its own.
  static constexpr int64_t kPipelinePieceElements = int64_t{1} << 20;
  static constexpr int64_t kMaxPipelinePieces = 8;

 private:
  // Averages one flat buffer of one dtype; adds the squared norms of what this rank averaged,
  // before and after, to *before and *after.
  absl::Status AverageFlat(char* flat, int64_t count, DataType dtype,
                           AveragingAlgorithm algorithm, const AveragingPlanes& planes,
                           double* before, double* after);

  // Large host models are averaged in pieces, pipelined: while piece p's shard crosses the
  // groups' links (on a helper thread), piece p-1 is allgathered inside the group, so the link
  // does not wait for the group's step nor the group for the link. How many pieces for
  // `count` elements (1: not pipelined).
  int64_t PipelinePieces(int64_t count, const AveragingPlanes& planes) const;
  absl::Status AveragePipelined(char* flat, int64_t count, DataType dtype, int64_t pieces,
                                const AveragingPlanes& planes, double* before, double* after);
  // The helper thread's half of a pipelined round: averages each piece's shard (`shard_of(p)`,
  // of a piece of `piece_counts[p]` elements) across groups in turn, reporting to `progress`.
  struct PieceProgress;
  void AverageShardsAcrossGroups(const std::function<char*(int64_t)>& shard_of,
                                 const std::vector<int64_t>& piece_counts, DataType dtype,
                                 const AveragingPlanes& planes, PieceProgress& progress);
  // Averages the tensors of `dtype` (packed into `packing`'s workspace when several) and adds to
  // the metric's partial sums; the number of elements averaged.
  absl::StatusOr<int64_t> AverageDtype(absl::Span<const ParameterTensor> tensors, DataType dtype,
                                       AveragingAlgorithm algorithm, const AveragingPlanes& planes,
                                       DataPlane& packing, double partials[2]);
  // D from the partial sums of every rank (summed here, collectively).
  absl::StatusOr<double> Discrepancy(double partials[2], bool sharded,
                                     const AveragingPlanes& planes);

  const Topology topology_;
  transport::Communicator* const control_;
  // Host copies of device parameters for the consistency check's checksums.
  std::vector<char> staging_;
  bool concurrent_communicators_ = false;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_AVERAGING_CROSS_GROUP_AVERAGER_H_
