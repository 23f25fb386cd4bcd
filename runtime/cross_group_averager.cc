#include "runtime/cross_group_averager.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/discrepancy.h"
#include "kernels/reduce.h"
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

CrossGroupAverager::CrossGroupAverager(const Topology& topology, transport::Communicator* world,
                                       transport::Communicator* group,
                                       transport::Communicator* cross)
    : topology_(topology), world_(world), group_(group), cross_(cross) {}

absl::Status CrossGroupAverager::CheckGroupConsistency(absl::Span<const ParameterTensor> tensors) {
  uint64_t checksum = 0x243f6a8885a308d3ull;
  for (const ParameterTensor& tensor : tensors) {
    checksum = Checksum(tensor.data, static_cast<size_t>(tensor.count) * DataTypeSize(tensor.dtype),
                        checksum);
  }
  // Everybody's checksum, so that every rank reaches the same verdict about every group.
  const int64_t mine = static_cast<int64_t>(checksum);
  std::vector<int64_t> all(topology_.world_size);
  HILO_RETURN_IF_ERROR(world_->Allgather(&mine, 1, all.data(),
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
                                                               AveragingAlgorithm algorithm, double* before,
                                             double* after) {
  const size_t element = DataTypeSize(dtype);
  if (algorithm == AveragingAlgorithm::kWorldAllreduce) {
    *before += kernels::SquaredNorm(flat, count, dtype);
    HILO_RETURN_IF_ERROR(world_->AllreduceSum(flat, count, dtype));
    HILO_RETURN_IF_ERROR(world_->Synchronize());
    *after += kernels::DivideInPlaceAndSquaredNorm(flat, count, dtype, topology_.world_size);
    return absl::OkStatus();
  }

  const int shards = topology_.group_size;
  const int mine = topology_.group_rank;
  char* shard = flat + ShardOffset(count, shards, mine) * element;
  *before += kernels::SquaredNorm(shard, ShardSize(count, shards, mine), dtype);
  // The k owners of this shard (one per group) average it over the cross communicator; the
  // group then reassembles the averaged model from its members' shards, in place.
  return SumShardAcrossGroupsAndGather(
      *group_, *cross_, shard, flat, count, dtype, [&](void* summed, int64_t summed_count) {
        *after += kernels::DivideInPlaceAndSquaredNorm(summed, summed_count, dtype,
                                                       topology_.num_groups);
      });
}

absl::StatusOr<AveragingRoundResult> CrossGroupAverager::Run(
    absl::Span<const ParameterTensor> tensors, AveragingAlgorithm algorithm,
    bool check_group_consistency) {
  for (const ParameterTensor& tensor : tensors) {
    if (!IsFloatingPoint(tensor.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cross-group averaging averages floating-point parameters; got ",
          DataTypeName(tensor.dtype)));
    }
  }
  if (check_group_consistency) HILO_RETURN_IF_ERROR(CheckGroupConsistency(tensors));
  if (topology_.num_groups == 1) {
    // One group: its model is already the average. Every rank takes this branch.
    AveragingRoundResult result;
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
  AveragingRoundResult result;
  for (DataType dtype : dtypes) {
    const size_t element = DataTypeSize(dtype);
    std::vector<const ParameterTensor*> members;
    int64_t total = 0;
    for (const ParameterTensor& tensor : tensors) {
      if (tensor.dtype != dtype) continue;
      members.push_back(&tensor);
      total += tensor.count;
    }
    result.elements += total;
    if (total == 0) continue;
    if (members.size() == 1) {
      // One tensor is its own flat buffer: no packing.
      HILO_RETURN_IF_ERROR(AverageFlat(static_cast<char*>(members[0]->data), total, dtype,
                                       algorithm, &partials[0], &partials[1]));
      continue;
    }
    std::vector<PackedSlice> slices;
    slices.reserve(members.size());
    for (const ParameterTensor* tensor : members) {
      slices.push_back({tensor->data, static_cast<size_t>(tensor->count) * element});
    }
    HILO_RETURN_IF_ERROR(AverageFlat(flat_.Pack(slices), total, dtype, algorithm, &partials[0],
                                     &partials[1]));
    flat_.Unpack(slices);
  }
  // One tiny allreduce turns the partial sums into the metric. Sharded: summed over all ranks,
  // before = sum_g ||w_g||^2 and after = k ||w_avg||^2 (each cross set holds one shard of every
  // group's model, then k copies of the average). Baseline: every rank holds everything, so both
  // sums are G times larger, and the ratio is the same.
  //   D = sum_g ||w_g - w_avg||^2 / (k ||w_avg||^2) = (before - after) / after
  // The subtraction cancels digits when D is tiny; in float64 it stays accurate to ~1e-12, far
  // below the float32 rounding of the average itself. Clamped at 0 for that noise.
  HILO_RETURN_IF_ERROR(world_->AllreduceSum(partials, 2, DataType::kFloat64));
  HILO_RETURN_IF_ERROR(world_->Synchronize());
  result.discrepancy = partials[1] > 0 ? std::max(0.0, (partials[0] - partials[1]) / partials[1]) : 0.0;
  return result;
}

}  // namespace hilo
