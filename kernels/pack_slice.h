// One tensor's place in a buffer of several tensors laid end to end: what the pack and unpack
// kernels (kernel_set.h) and the transports that gather straight from the tensors
// (runtime/transport/communicator.h, AllreduceSumSlices) both take. A plain value.
#ifndef HILO_KERNELS_PACK_SLICE_H_
#define HILO_KERNELS_PACK_SLICE_H_

#include <cstdint>

namespace hilo::kernels {

// `bytes` bytes at `tensor`, at byte `offset` of the packed buffer.
struct PackSlice {
  void* tensor;
  int64_t offset;
  int64_t bytes;
};

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_PACK_SLICE_H_
