// What a collective's data goes through: a communicator, the kernels that run on its memory and a
// reusable buffer in that memory. MPI with the CPU kernels on host memory, or NCCL with the CUDA
// kernels on the NCCL communicator's stream in device memory; the algorithms above (collectives.h,
// the cross-group averager) are written once against this and never touch the memory themselves.
#ifndef HILO_RUNTIME_EXECUTION_DATA_PLANE_H_
#define HILO_RUNTIME_EXECUTION_DATA_PLANE_H_

#include "kernels/kernel_set.h"
#include "runtime/transport/communicator.h"

namespace hilo {

// The kernels run on the communicator's memory, ordered with its calls (the same stream on a
// GPU). The workspace is the plane's fusion buffer: free between two responses, since the
// coordinator runs one response at a time and finishes it before the next.
struct DataPlane {
  transport::Communicator& communicator;
  kernels::KernelSet& kernels;
  kernels::Workspace& fusion;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_EXECUTION_DATA_PLANE_H_
