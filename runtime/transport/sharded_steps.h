// The steps that hierarchical local SGD's sharded averaging and the hierarchical allreduce share.
//
// A flat buffer of `count` elements is split into G shards of nearly equal size, one per member
// of a group (runtime/common/shard_split.h). Member j of
// every group then sums shard j over the cross communicator (the k ranks holding position j, one
// per group), and each group reassembles the buffer from its members' shards with one allgather:
// across groups each rank moves about 2 (k-1)/k * count/G elements instead of the
// 2 (P-1)/P * count of an allreduce over everybody.
//
//  * Averaging (runtime/averaging/cross_group_averager.h): the members of a group already hold the same
//    model, so the shard is taken from the buffer itself.
//  * Hierarchical allreduce (runtime/transport/hierarchical_communicator.h): the members hold
//    different gradients, so a reduce-scatter in the group first leaves member j the group's sum
//    of shard j.
//
// Collective over the group and cross communicators; written against transport::Communicator, so
// the same code drives any transport.
#ifndef HILO_RUNTIME_TRANSPORT_SHARDED_STEPS_H_
#define HILO_RUNTIME_TRANSPORT_SHARDED_STEPS_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "kernels/dtype.h"
#include "runtime/common/shard_split.h"  // ShardSize, ShardOffset, ShardSizes
#include "runtime/transport/communicator.h"

namespace hilo {

// Step 1: sums `shard` (ShardSize(count, G, group rank) elements of a `count`-element buffer)
// over `cross`, in place, and calls `after_sum(shard, shard_count)` on the sum once it is in place
// (e.g. to divide; its error is returned).
absl::Status SumShardAcrossGroups(
    transport::Communicator& group, transport::Communicator& cross, void* shard, int64_t count,
    DataType dtype, absl::FunctionRef<absl::Status(void* shard, int64_t shard_count)> after_sum);

// Step 2: allgathers every member's shard of a `count`-element buffer into `flat` over `group`.
// `shard` may be this rank's block of `flat` itself (in place) or a separate buffer.
absl::Status GatherShards(transport::Communicator& group, const void* shard, void* flat,
                          int64_t count, DataType dtype);

// Both steps, one after the other. The pipelined averaging round runs them on two threads
// instead, piece by piece (runtime/averaging/cross_group_averager.h).
absl::Status SumShardAcrossGroupsAndGather(
    transport::Communicator& group, transport::Communicator& cross, void* shard, void* flat,
    int64_t count, DataType dtype,
    absl::FunctionRef<absl::Status(void* shard, int64_t shard_count)> after_sum);

}  // namespace hilo

#endif  // HILO_RUNTIME_TRANSPORT_SHARDED_STEPS_H_
