#include "runtime/sharded_steps.h"

#include <algorithm>

#include "runtime/common/status_macros.h"

namespace hilo {

int64_t ShardSize(int64_t total, int shards, int shard) {
  return total / shards + (shard < total % shards ? 1 : 0);
}

int64_t ShardOffset(int64_t total, int shards, int shard) {
  return shard * (total / shards) + std::min<int64_t>(shard, total % shards);
}

std::vector<int64_t> ShardSizes(int64_t total, int shards) {
  std::vector<int64_t> sizes(shards);
  for (int j = 0; j < shards; ++j) sizes[j] = ShardSize(total, shards, j);
  return sizes;
}

absl::Status SumShardAcrossGroupsAndGather(
    transport::Communicator& group, transport::Communicator& cross, void* shard, void* flat,
    int64_t count, DataType dtype,
    absl::FunctionRef<absl::Status(void* shard, int64_t shard_count)> after_sum) {
  const int64_t shard_count = ShardSize(count, group.size(), group.rank());
  HILO_RETURN_IF_ERROR(cross.AllreduceSum(shard, shard_count, dtype));
  HILO_RETURN_IF_ERROR(cross.Synchronize());
  HILO_RETURN_IF_ERROR(after_sum(shard, shard_count));
  HILO_RETURN_IF_ERROR(
      group.Allgather(shard, shard_count, flat, ShardSizes(count, group.size()), dtype));
  return group.Synchronize();
}

}  // namespace hilo
