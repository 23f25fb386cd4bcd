// Hierarchical allreduce for the world communicator (HILO_HIERARCHICAL_ALLREDUCE=1).
//
// An allreduce over all P ranks, done in three steps that put most of the traffic on the fast
// links inside a group (a node):
//   1. reduce-scatter in the group: member j gets the group's sum of shard j (1/G of the data);
//   2. allreduce of that shard across groups, over the cross communicator (the k ranks holding
//      position j, one per group);
//   3. allgather in the group: every member has the whole sum.
// Across groups each rank moves about 2 (k-1)/k * N/G elements instead of 2 (P-1)/P * N with a
// flat ring over everybody. Steps 2 and 3 are the very code of the sharded cross-group averaging
// (runtime/transport/sharded_steps.h). The result is the same sum; floating-point sums are added in another
// order than a flat allreduce's, so low bits may differ from one.
//
// A transport::Communicator decorator: allreduce goes the hierarchical way, everything else to
// the flat world communicator, so the collectives above (fusion included) need no change. With
// one group, or groups of one, every call goes to the world communicator. The shard lives in a
// Workspace of the communicators' memory (host for MPI, device for NCCL); coordinator thread
// only, like every communicator.
#ifndef HILO_RUNTIME_TRANSPORT_HIERARCHICAL_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_HIERARCHICAL_COMMUNICATOR_H_

#include <string>
#include <vector>

#include "kernels/kernel_set.h"
#include "runtime/transport/forwarding_communicator.h"

namespace hilo {

class HierarchicalCommunicator final : public transport::ForwardingCommunicator {
 public:
  // All four must outlive this object; `group` and `cross` are this rank's, as in Topology;
  // `shard` is memory of the communicators' kind.
  HierarchicalCommunicator(transport::Communicator* world, transport::Communicator* group,
                           transport::Communicator* cross, kernels::Workspace* shard);

  // Packed buffers only (they go the hierarchical way); alltoall as the world's.
  Capabilities capabilities() const override {
    return {.sums_slices = false, .alltoall = ForwardingCommunicator::capabilities().alltoall};
  }
  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  // Not the flat world's: the caller packs and the packed buffer goes the hierarchical way.
  absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) override {
    return Communicator::AllreduceSumSlices(slices, dtype);
  }

 private:
  transport::Communicator* const group_;
  transport::Communicator* const cross_;
  kernels::Workspace* const shard_;  // this rank's shard between the steps
};

}  // namespace hilo

#endif  // HILO_RUNTIME_TRANSPORT_HIERARCHICAL_COMMUNICATOR_H_
