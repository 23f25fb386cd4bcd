#include "runtime/sharded_steps.h"

#include "runtime/common/status_macros.h"

namespace hilo {

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
