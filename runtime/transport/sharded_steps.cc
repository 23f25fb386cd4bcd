#include "runtime/transport/sharded_steps.h"

#include "runtime/common/status_macros.h"

namespace hilo {

absl::Status SumShardAcrossGroups(
    transport::Communicator& group, transport::Communicator& cross, void* shard, int64_t count,
    DataType dtype, absl::FunctionRef<absl::Status(void* shard, int64_t shard_count)> after_sum) {
  const int64_t shard_count = ShardSize(count, group.size(), group.rank());
  HILO_RETURN_IF_ERROR(cross.AllreduceSum(shard, shard_count, dtype));
  HILO_RETURN_IF_ERROR(cross.Synchronize());
  return after_sum(shard, shard_count);
}

absl::Status GatherShards(transport::Communicator& group, const void* shard, void* flat,
                          int64_t count, DataType dtype) {
  HILO_RETURN_IF_ERROR(group.Allgather(shard, ShardSize(count, group.size(), group.rank()), flat,
                                       ShardSizes(count, group.size()), dtype));
  return group.Synchronize();
}

absl::Status SumShardAcrossGroupsAndGather(
    transport::Communicator& group, transport::Communicator& cross, void* shard, void* flat,
    int64_t count, DataType dtype,
    absl::FunctionRef<absl::Status(void* shard, int64_t shard_count)> after_sum) {
  HILO_RETURN_IF_ERROR(SumShardAcrossGroups(group, cross, shard, count, dtype, after_sum));
  return GatherShards(group, shard, flat, count, dtype);
}

}  // namespace hilo
