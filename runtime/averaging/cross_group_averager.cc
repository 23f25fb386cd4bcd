#include "runtime/averaging/cross_group_averager.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

// A fast 64-bit checksum of raw bytes (8 bytes per step, multiply-xorshift mixing). Only
// equality matters: members holding identical bytes get identical checksums.
uint64_t Checksum(const void* data, size_t bytes, uint64_t seed) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  uint64_t hash = seed ^ (bytes * 0x9e3779b97f4a7c15ull);
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t word;
    std::memcpy(&word, p + i, 8);
    hash = (hash ^ word) * 0xbf58476d1ce4e5b9ull;
    hash ^= hash >> 31;
  }
  for (; i < bytes; ++i) hash = (hash ^ p[i]) * 0x94d049bb133111ebull;
  return hash ^ (hash >> 29);
}

}  // namespace

CrossGroupAverager::CrossGroupAverager(const Topology& topology,
                                       transport::Communicator* control)
    : topology_(topology), control_(control) {}

absl::Status CrossGroupAverager::CheckGroupConsistency(absl::Span<const ParameterTensor> tensors,
                                                       DataPlane& plane) {
  const bool on_host = plane.communicator.memory_kind() == transport::MemoryKind::kHost;
  uint64_t checksum = 0x243f6a8885a308d3ull;
  for (const ParameterTensor& tensor : tensors) {
    const size_t bytes = static_cast<size_t>(tensor.count) * DataTypeSize(tensor.dtype);
    const void* readable = tensor.data;
    if (!on_host) {
      // Device memory: checksum a host copy (the check is a debugging aid; it costs a copy).
      if (staging_.size() < bytes) staging_.resize(bytes);
      HILO_RETURN_IF_ERROR(
          plane.kernels.CopyToHost(tensor.data, static_cast<int64_t>(bytes), staging_.data()));
      readable = staging_.data();
    }
    checksum = Checksum(readable, bytes, checksum);
  }
  // Everybody's checksum, so that every rank reaches the same verdict about every group.
  const int64_t mine = static_cast<int64_t>(checksum);
  std::vector<int64_t> all(topology_.world_size);
  HILO_RETURN_IF_ERROR(control_->Allgather(&mine, 1, all.data(),
                                         std::vector<int64_t>(topology_.world_size, 1),
                                         DataType::kInt64));
  std::vector<std::string> problems;
  for (int g = 0; g < topology_.num_groups; ++g) {
    const int first = g * topology_.group_size;
    std::map<int64_t, std::vector<int>> ranks_by_checksum;
    for (int r = first; r < first + topology_.group_size; ++r) ranks_by_checksum[all[r]].push_back(r);
    if (ranks_by_checksum.size() == 1) continue;
    // The largest set of agreeing members is taken as the group's model (ties: the one holding
    // the lowest rank); everybody else "differs".
    auto reference = ranks_by_checksum.begin();
    for (auto it = ranks_by_checksum.begin(); it != ranks_by_checksum.end(); ++it) {
      if (it->second.size() > reference->second.size() ||
          (it->second.size() == reference->second.size() && it->second[0] < reference->second[0])) {
        reference = it;
      }
    }
    std::vector<int> differing;
    for (const auto& [value, ranks] : ranks_by_checksum) {
      if (value != reference->first) differing.insert(differing.end(), ranks.begin(), ranks.end());
    }
    std::sort(differing.begin(), differing.end());
    problems.push_back(absl::StrCat("group ", g, ": rank", differing.size() > 1 ? "s " : " ",
                                    absl::StrJoin(differing, ", "),
                                    differing.size() > 1 ? " differ" : " differs", " from rank",
                                    reference->second.size() > 1 ? "s " : " ",
                                    absl::StrJoin(reference->second, ", ")));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "members of a group hold different parameters before cross-group averaging (",
      absl::StrJoin(problems, "; "),
      "); inside a group every step must allreduce gradients over the group communicator"));
}

absl::Status CrossGroupAverager::AverageFlat(char* flat, int64_t count, DataType dtype,
                                             AveragingAlgorithm algorithm,
                                             const AveragingPlanes& planes, double* before,
                                             double* after) {
  const size_t element = DataTypeSize(dtype);
  if (algorithm == AveragingAlgorithm::kWorldAllreduce) {
    DataPlane& world = *planes.world;
    HILO_ASSIGN_OR_RETURN(const double norm, world.kernels.SquaredNorm(flat, count, dtype));
    *before += norm;
    HILO_RETURN_IF_ERROR(world.communicator.AllreduceSum(flat, count, dtype));
    HILO_RETURN_IF_ERROR(world.communicator.Synchronize());
    HILO_ASSIGN_OR_RETURN(const double averaged_norm,
                          world.kernels.DivideAndSquaredNorm(flat, count, dtype,
                                                             topology_.world_size));
    *after += averaged_norm;
    return absl::OkStatus();
  }

  DataPlane& group = *planes.group;
  DataPlane& cross = *planes.cross;
  const int64_t pieces = PipelinePieces(count, planes);
  if (pieces > 1) return AveragePipelined(flat, count, dtype, pieces, planes, before, after);
  const int shards = topology_.group_size;
  const int mine = topology_.group_rank;
  char* shard = flat + ShardOffset(count, shards, mine) * element;
  // The norms wait for their kernels, so each step below starts after the one before it has
  // finished on the other communicator's stream.
  HILO_ASSIGN_OR_RETURN(const double norm,
                        cross.kernels.SquaredNorm(shard, ShardSize(count, shards, mine), dtype));
  *before += norm;
  // The k owners of this shard (one per group) average it over the cross communicator; the
  // group then reassembles the averaged model from its members' shards, in place.
  return SumShardAcrossGroupsAndGather(
      group.communicator, cross.communicator, shard, flat, count, dtype,
      [&](void* summed, int64_t summed_count) -> absl::Status {
        HILO_ASSIGN_OR_RETURN(const double averaged_norm,
                              cross.kernels.DivideAndSquaredNorm(summed, summed_count, dtype,
                                                                 topology_.num_groups));
        *after += averaged_norm;
        return absl::OkStatus();
      });
}

int64_t CrossGroupAverager::PipelinePieces(int64_t count, const AveragingPlanes& planes) const {
  // Host memory only: the device planes' communicators run on their own streams already, and a
  // second thread must not drive them.
  if (!concurrent_communicators_ ||
      planes.group->communicator.memory_kind() != transport::MemoryKind::kHost ||
      planes.cross->communicator.memory_kind() != transport::MemoryKind::kHost) {
    return 1;
  }
  return std::clamp<int64_t>(count / kPipelinePieceElements, 1, kMaxPipelinePieces);
}

// What the two threads of a pipelined round share.
struct CrossGroupAverager::PieceProgress {
  absl::Mutex mu;
  int64_t averaged ABSL_GUARDED_BY(mu) = 0;  // pieces whose shard holds the average
  absl::Status helper_status ABSL_GUARDED_BY(mu);  // the helper's first error
  bool stop ABSL_GUARDED_BY(mu) = false;  // the round's thread failed: stop after this piece
  // The helper's share of the metric's partial sums, read once it has been joined.
  double before = 0, after = 0;
};

void CrossGroupAverager::AverageShardsAcrossGroups(
    const std::function<char*(int64_t)>& shard_of, const std::vector<int64_t>& piece_counts,
    DataType dtype, const AveragingPlanes& planes, PieceProgress& progress) {
  DataPlane& cross = *planes.cross;
  const int shards = topology_.group_size;
  const int mine = topology_.group_rank;
  for (int64_t p = 0; p < static_cast<int64_t>(piece_counts.size()); ++p) {
    {
      absl::MutexLock lock(&progress.mu);
      if (progress.stop) return;
    }
    absl::Status status = [&]() -> absl::Status {
      HILO_ASSIGN_OR_RETURN(
          const double norm,
          cross.kernels.SquaredNorm(shard_of(p), ShardSize(piece_counts[p], shards, mine), dtype));
      progress.before += norm;
      return SumShardAcrossGroups(
          planes.group->communicator, cross.communicator, shard_of(p), piece_counts[p], dtype,
          [&](void* summed, int64_t summed_count) -> absl::Status {
            HILO_ASSIGN_OR_RETURN(const double averaged_norm,
                                  cross.kernels.DivideAndSquaredNorm(summed, summed_count, dtype,
                                                                     topology_.num_groups));
            progress.after += averaged_norm;
            return absl::OkStatus();
          });
    }();
    absl::MutexLock lock(&progress.mu);
    if (!status.ok()) {
      progress.helper_status = status;
      return;
    }
    progress.averaged = p + 1;
  }
}

absl::Status CrossGroupAverager::AveragePipelined(char* flat, int64_t count, DataType dtype,
                                                  int64_t pieces, const AveragingPlanes& planes,
                                                  double* before, double* after) {
  const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
  // The pieces split the buffer as shards split a piece (runtime/common/shard_split.h).
  const std::vector<int64_t> piece_counts = ShardSizes(count, static_cast<int>(pieces));
  const auto piece_offset = [&](int64_t p) {
    return ShardOffset(count, static_cast<int>(pieces), static_cast<int>(p));
  };
  const std::function<char*(int64_t)> shard_of = [&](int64_t p) {
    return flat + (piece_offset(p) +
                   ShardOffset(piece_counts[p], topology_.group_size, topology_.group_rank)) *
                      element;
  };
  // The helper thread averages the pieces' shards across groups, one after another; this thread
  // allgathers each averaged piece in the group as soon as it is ready. Different pieces touch
  // disjoint memory, and the two threads drive different communicators.
  PieceProgress progress;
  std::thread helper(
      [&] { AverageShardsAcrossGroups(shard_of, piece_counts, dtype, planes, progress); });
  absl::Status status;
  for (int64_t p = 0; p < pieces && status.ok(); ++p) {
    {
      absl::MutexLock lock(&progress.mu);
      const auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(progress.mu) {
        return progress.averaged > p || !progress.helper_status.ok();
      };
      progress.mu.Await(absl::Condition(&ready));
      if (progress.averaged <= p) status = progress.helper_status;
    }
    if (!status.ok()) break;
    status = GatherShards(planes.group->communicator, shard_of(p),
                          flat + piece_offset(p) * element, piece_counts[p], dtype);
  }
  if (!status.ok()) {
    absl::MutexLock lock(&progress.mu);
    progress.stop = true;
  }
  helper.join();
  *before += progress.before;
  *after += progress.after;
  return status;
}

absl::StatusOr<AveragingRoundResult> CrossGroupAverager::Run(
    absl::Span<const ParameterTensor> tensors, AveragingAlgorithm algorithm,
    bool check_group_consistency, const AveragingPlanes& planes) {
  for (const ParameterTensor& tensor : tensors) {
    if (!IsFloatingPoint(tensor.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cross-group averaging averages floating-point parameters; got ",
          DataTypeName(tensor.dtype)));
    }
  }
  const bool sharded = algorithm != AveragingAlgorithm::kWorldAllreduce;
  DataPlane* packing = sharded ? planes.group : planes.world;
  const bool planes_given =
      sharded ? planes.group != nullptr && planes.cross != nullptr : planes.world != nullptr;
  if (ReadsParameters(check_group_consistency) && !planes_given) {
    return absl::InternalError(absl::StrCat("averaging round (", AveragingAlgorithmName(algorithm),
                                            ") without the data planes it runs on"));
  }
  if (check_group_consistency) HILO_RETURN_IF_ERROR(CheckGroupConsistency(tensors, *packing));
  AveragingRoundResult result;
  if (topology_.num_groups == 1) {
    // One group: its model is already the average. Every rank takes this branch.
    for (const ParameterTensor& tensor : tensors) result.elements += tensor.count;
    return result;
  }
  std::vector<DataType> dtypes;
  for (const ParameterTensor& tensor : tensors) {
    if (std::find(dtypes.begin(), dtypes.end(), tensor.dtype) == dtypes.end()) {
      dtypes.push_back(tensor.dtype);
    }
  }
  // Squared norms of what this rank averaged, before and after (see kernels/discrepancy.h).
  double partials[2] = {0, 0};
  for (DataType dtype : dtypes) {
    HILO_ASSIGN_OR_RETURN(const int64_t elements,
                          AverageDtype(tensors, dtype, algorithm, planes, *packing, partials));
    result.elements += elements;
  }
  HILO_ASSIGN_OR_RETURN(result.discrepancy, Discrepancy(partials, sharded, planes));
  return result;
}

absl::StatusOr<int64_t> CrossGroupAverager::AverageDtype(
    absl::Span<const ParameterTensor> tensors, DataType dtype, AveragingAlgorithm algorithm,
    const AveragingPlanes& planes, DataPlane& packing, double partials[2]) {
  const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
  std::vector<kernels::PackSlice> slices;
  int64_t total = 0;
  for (const ParameterTensor& tensor : tensors) {
    if (tensor.dtype != dtype) continue;
    slices.push_back({tensor.data, total * element, tensor.count * element});
    total += tensor.count;
  }
  if (total == 0) return total;
  if (slices.size() == 1) {
    // One tensor is its own flat buffer: no packing.
    HILO_RETURN_IF_ERROR(AverageFlat(static_cast<char*>(slices[0].tensor), total, dtype,
                                     algorithm, planes, &partials[0], &partials[1]));
    return total;
  }
  // Several: one flat buffer in the packing plane's workspace (one kernel launch each way on a
  // GPU), synchronized before another communicator's stream reads it.
  HILO_ASSIGN_OR_RETURN(void* flat, packing.fusion.Reserve(static_cast<size_t>(total * element)));
  HILO_RETURN_IF_ERROR(packing.kernels.Pack(slices, flat));
  HILO_RETURN_IF_ERROR(packing.kernels.Synchronize());
  HILO_RETURN_IF_ERROR(AverageFlat(static_cast<char*>(flat), total, dtype, algorithm, planes,
                                   &partials[0], &partials[1]));
  HILO_RETURN_IF_ERROR(packing.kernels.Unpack(flat, slices));
  HILO_RETURN_IF_ERROR(packing.kernels.Synchronize());
  return total;
}

absl::StatusOr<double> CrossGroupAverager::Discrepancy(double partials[2], bool sharded,
                                                       const AveragingPlanes& planes) {
  // One tiny allreduce turns the partial sums into the metric. Sharded: summed over all ranks,
  // before = sum_g ||w_g||^2 and after = k ||w_avg||^2 (each cross set holds one shard of every
  // group's model, then k copies of the average). Baseline: every rank holds everything, so both
  // sums are G times larger, and the ratio is the same.
  //   D = sum_g ||w_g - w_avg||^2 / (k ||w_avg||^2) = (before - after) / after
  // The subtraction cancels digits when D is tiny; in float64 it stays accurate to ~1e-12, far
  // below the float32 rounding of the average itself. Clamped at 0 for that noise.
  // On host planes the sum goes over the cross communicator, then the group (together: the
  // world), the paths the round itself used. Across machines those have deadlines (the TCP ring,
  // the shared-memory segment), where an MPI allreduce over the world would wait forever for a
  // node that was lost. Device planes take host doubles through the control communicator.
  if (sharded && planes.cross->communicator.memory_kind() == transport::MemoryKind::kHost &&
      planes.group->communicator.memory_kind() == transport::MemoryKind::kHost) {
    HILO_RETURN_IF_ERROR(planes.cross->communicator.AllreduceSum(partials, 2, DataType::kFloat64));
    HILO_RETURN_IF_ERROR(planes.cross->communicator.Synchronize());
    HILO_RETURN_IF_ERROR(planes.group->communicator.AllreduceSum(partials, 2, DataType::kFloat64));
    HILO_RETURN_IF_ERROR(planes.group->communicator.Synchronize());
  } else {
    HILO_RETURN_IF_ERROR(control_->AllreduceSum(partials, 2, DataType::kFloat64));
    HILO_RETURN_IF_ERROR(control_->Synchronize());
  }
  return partials[1] > 0 ? std::max(0.0, (partials[0] - partials[1]) / partials[1]) : 0.0;
}

}  // namespace hilo
