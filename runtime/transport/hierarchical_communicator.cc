#include "runtime/transport/hierarchical_communicator.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/status_macros.h"
#include "runtime/transport/sharded_steps.h"

namespace hilo {

HierarchicalCommunicator::HierarchicalCommunicator(transport::Communicator* world,
                                                   transport::Communicator* group,
                                                   transport::Communicator* cross,
                                                   kernels::Workspace* shard)
    : ForwardingCommunicator(world), group_(group), cross_(cross), shard_(shard) {}

absl::Status HierarchicalCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  // With one group or groups of one, one of the steps would be the whole allreduce anyway.
  if (group_->size() == 1 || cross_->size() == 1) return inner()->AllreduceSum(data, count, dtype);
  const std::vector<int64_t> shard_sizes = ShardSizes(count, group_->size());
  HILO_ASSIGN_OR_RETURN(void* shard,
                        shard_->Reserve(static_cast<size_t>(shard_sizes[group_->rank()]) *
                                        DataTypeSize(dtype)));
  HILO_RETURN_IF_ERROR(group_->ReduceScatterSum(data, shard, shard_sizes, dtype));
  HILO_RETURN_IF_ERROR(group_->Synchronize());
  return SumShardAcrossGroupsAndGather(*group_, *cross_, shard, data, count, dtype,
                                       [](void*, int64_t) { return absl::OkStatus(); });
}

}  // namespace hilo
