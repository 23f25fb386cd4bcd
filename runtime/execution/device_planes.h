// The NCCL data plane of one process: for each communicator (world, group, cross) an NCCL
// communicator on this rank's GPU with its own stream, the CUDA kernels on that stream and a
// device fusion buffer, created when the first response with CUDA tensors on it runs.
//
// Creating an NCCL communicator is collective over its members. Creating it while executing a
// response keeps that safe: every member executes the same responses in the same order, so they
// all reach the first device response together (a world response also creates the group's and
// cross's communicators when the world allreduce is hierarchical: every member of those executes
// that world response too). CPU-only builds link device_planes_none.cc, whose For() says that
// the build has no CUDA. Coordinator thread only.
#ifndef HILO_RUNTIME_EXECUTION_DEVICE_PLANES_H_
#define HILO_RUNTIME_EXECUTION_DEVICE_PLANES_H_

#include <array>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/execution/collectives.h"
#include "runtime/topology.h"
#include "runtime/transport/control_channel.h"
#include "runtime/transport/counting_communicator.h"

namespace hilo {

class DevicePlanes {
 public:
  virtual ~DevicePlanes() = default;

  // The data plane for a response on `kind` whose tensors are on CUDA device `device` (every
  // tensor of a process must be on the same device). Creates it on first use (see above).
  virtual absl::StatusOr<DataPlane*> For(CommunicatorKind kind, int device) = 0;
  // Makes the transport's stream for `kind` wait for `cuda_event` (recorded by the framework on
  // its stream after producing a tensor). The host does not wait.
  virtual absl::Status WaitForEvent(CommunicatorKind kind, void* cuda_event) = 0;
  // Payload handed to NCCL on `kind` so far.
  virtual transport::TransportCounters counters(CommunicatorKind kind) const = 0;
  // Aborts every NCCL communicator (shutdown after an error, stall stop): hung calls return.
  virtual void Abort() = 0;
};

// `bootstrap[kind]` is the control channel the NCCL unique id travels over (the MPI
// communicator of the same members); they must outlive the planes. `timeout` bounds every NCCL
// wait (a missing peer becomes DEADLINE_EXCEEDED instead of a hang).
std::unique_ptr<DevicePlanes> MakeDevicePlanes(
    const Topology& topology,
    std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap,
    bool hierarchical_allreduce, absl::Duration timeout);

}  // namespace hilo

#endif  // HILO_RUNTIME_EXECUTION_DEVICE_PLANES_H_
