// The kernels the data plane runs on tensor memory, behind one interface with two implementations:
// CpuKernelSet here (host memory) and CudaKernelSet in kernels/cuda (device memory, on a CUDA
// stream). The CPU versions are the reference ("twins"): the CUDA ones are tested against them
// element for element (bit-exact for scale, casts, pack and unpack; norms within float64 rounding,
// since a GPU sums in another order).
//
//   std::unique_ptr<KernelSet> kernels = MakeCpuKernelSet();
//   kernels->Pack(slices, fusion_buffer);           // many tensors -> one buffer
//   ... allreduce the buffer ...
//   kernels->Divide(fusion_buffer, n, dtype, size);  // sum -> average
//   kernels->Unpack(fusion_buffer, slices);
//   kernels->Synchronize();                          // CUDA: the stream has reached this point
//
// Calls on one KernelSet are ordered (a CUDA set enqueues them on its stream and returns; results
// are in place after Synchronize(), or at once on the CPU). The norms return a value, so they
// wait. Not thread-safe: one user thread per KernelSet (hilo's coordinator).
#ifndef HILO_KERNELS_KERNEL_SET_H_
#define HILO_KERNELS_KERNEL_SET_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/dtype.h"
#include "kernels/pack_slice.h"

namespace hilo::kernels {

class KernelSet {
 public:
  virtual ~KernelSet() = default;

  // "cpu" or "cuda:N".
  virtual const char* name() const = 0;

  // data[i] /= divisor (kernels/reduce.h's DivideInPlace semantics for every dtype).
  virtual absl::Status Divide(void* data, int64_t count, DataType dtype, int64_t divisor) = 0;

  // float32 -> float16/bfloat16 (round to nearest even) and back (exact).
  virtual absl::Status CastFromFloat32(const float* in, void* out, int64_t count,
                                       DataType to) = 0;
  virtual absl::Status CastToFloat32(const void* in, DataType from, float* out,
                                     int64_t count) = 0;

  // Copies every slice's tensor into `buffer` at its offset / back out, in one pass (one launch
  // on a GPU). Slices must not overlap in the buffer.
  virtual absl::Status Pack(absl::Span<const PackSlice> slices, void* buffer) = 0;
  virtual absl::Status Unpack(const void* buffer, absl::Span<const PackSlice> slices) = 0;

  // The discrepancy metric's partial sums (kernels/discrepancy.h), in float64.
  virtual absl::StatusOr<double> SquaredNorm(const void* data, int64_t count, DataType dtype) = 0;
  virtual absl::StatusOr<double> DivideAndSquaredNorm(void* data, int64_t count, DataType dtype,
                                                      int64_t divisor) = 0;

  // Copies `bytes` bytes at `data` (this set's memory) to `host` once earlier calls have taken
  // effect, and waits for the copy: for host-side checks (checksums) of tensors on any device.
  virtual absl::Status CopyToHost(const void* data, int64_t bytes, void* host) = 0;

  // Waits until every call made so far has taken effect.
  virtual absl::Status Synchronize() = 0;
};

// The host-memory twins; stateless and always available.
std::unique_ptr<KernelSet> MakeCpuKernelSet();

// A reusable buffer in one kind of memory (the fusion buffer, a shard between collective steps):
// grown to the largest size asked for and kept, so steady-state steps allocate nothing.
class Workspace {
 public:
  virtual ~Workspace() = default;
  // At least `bytes` bytes, valid until the next call. Growing may wait for earlier work that
  // used the old buffer.
  virtual absl::StatusOr<void*> Reserve(size_t bytes) = 0;
};

std::unique_ptr<Workspace> MakeHostWorkspace();

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_KERNEL_SET_H_
