#include "runtime/bootstrap.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/rank_values.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

// What each rank contributes, in this order.
enum Field { kLocalSize, kGroupSize, kFusionThreshold, kCacheCapacity, kNumFields };

// This rank's topology from every rank's fields, or why there is none.
absl::StatusOr<Topology> TopologyFrom(const std::vector<int64_t>& all, int world_size,
                                      const RankPlacement& placement,
                                      const RuntimeConfig& config) {
  const auto field = [&](int rank, Field f) { return all[rank * kNumFields + f]; };
  int64_t min_local = field(0, kLocalSize), max_local = field(0, kLocalSize);
  std::vector<std::pair<std::string, int>> group_size_by_rank;
  std::vector<int> other_settings;
  for (int r = 0; r < world_size; ++r) {
    min_local = std::min(min_local, field(r, kLocalSize));
    max_local = std::max(max_local, field(r, kLocalSize));
    group_size_by_rank.emplace_back(absl::StrCat(field(r, kGroupSize)), r);
    if (field(r, kFusionThreshold) != config.fusion_threshold_bytes ||
        field(r, kCacheCapacity) != config.cache_capacity) {
      other_settings.push_back(r);
    }
  }
  if (!other_settings.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HILO_FUSION_THRESHOLD or HILO_CACHE_CAPACITY differ between this rank (",
        config.fusion_threshold_bytes, ", ", config.cache_capacity, ") and rank",
        other_settings.size() > 1 ? "s " : " ", absl::StrJoin(other_settings, ", "),
        "; set them the same everywhere"));
  }
  const std::string group_size_disagreement = DescribeRanksByValue(group_size_by_rank);
  if (!group_size_disagreement.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HILO_GROUP_SIZE differs across ranks (", group_size_disagreement,
        "); set it the same everywhere, e.g. mpirun -x HILO_GROUP_SIZE"));
  }
  return MakeTopology(placement.world_rank, placement.world_size, placement.local_rank,
                      placement.local_size, static_cast<int>(min_local),
                      static_cast<int>(max_local), config.group_size);
}

}  // namespace

absl::StatusOr<Topology> AgreeOnTopology(transport::Communicator& world,
                                         const RankPlacement& placement,
                                         const RuntimeConfig& config) {
  const int size = world.size();
  const int64_t mine[kNumFields] = {placement.local_size, config.group_size,
                                    config.fusion_threshold_bytes, config.cache_capacity};
  std::vector<int64_t> all(static_cast<size_t>(size) * kNumFields);
  HILO_RETURN_IF_ERROR(world.Allgather(mine, kNumFields, all.data(),
                                       std::vector<int64_t>(size, kNumFields), DataType::kInt64));
  absl::StatusOr<Topology> topology = TopologyFrom(all, size, placement, config);
  const int64_t ok_here = topology.ok() ? 1 : 0;
  std::vector<int64_t> ok_everywhere(size);
  HILO_RETURN_IF_ERROR(world.Allgather(&ok_here, 1, ok_everywhere.data(),
                                       std::vector<int64_t>(size, 1), DataType::kInt64));
  if (!topology.ok()) return topology.status();
  std::vector<int> failed;
  for (int r = 0; r < size; ++r) {
    if (ok_everywhere[r] == 0) failed.push_back(r);
  }
  if (!failed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hilo init failed on rank(s) ", absl::StrJoin(failed, ", "), "; see their error"));
  }
  return topology;
}

}  // namespace hilo
