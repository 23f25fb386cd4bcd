#include "runtime/hierarchical_communicator.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/status_macros.h"
#include "runtime/sharded_steps.h"

namespace hilo {

HierarchicalCommunicator::HierarchicalCommunicator(transport::Communicator* world,
                                                   transport::Communicator* group,
                                                   transport::Communicator* cross)
    : world_(world), group_(group), cross_(cross) {}

absl::Status HierarchicalCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  // With one group or groups of one, one of the steps would be the whole allreduce anyway.
  if (group_->size() == 1 || cross_->size() == 1) return world_->AllreduceSum(data, count, dtype);
  if (world_->memory_kind() != transport::MemoryKind::kHost) {
    return absl::UnimplementedError(absl::StrCat(
        "hierarchical allreduce on ", world_->name(),
        ": device memory is not supported yet; unset HILO_HIERARCHICAL_ALLREDUCE"));
  }
  const std::vector<int64_t> shard_sizes = ShardSizes(count, group_->size());
  shard_.resize(static_cast<size_t>(shard_sizes[group_->rank()]) * DataTypeSize(dtype));
  HILO_RETURN_IF_ERROR(group_->ReduceScatterSum(data, shard_.data(), shard_sizes, dtype));
  HILO_RETURN_IF_ERROR(group_->Synchronize());
  return SumShardAcrossGroupsAndGather(*group_, *cross_, shard_.data(), data, count, dtype,
                                       [](void*, int64_t) {});
}

}  // namespace hilo
