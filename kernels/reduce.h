// CPU reduction kernels: element-wise sums, min / max / product, and in-place division, for
// every hilo dtype.
//
// The MPI transport calls SumInto from its user-defined MPI operation for float16 / bfloat16
// (MPI has no native sum for them) and the runtime calls DivideInPlace to turn a sum into an
// average. Both are pure functions over caller-owned buffers; thread-safe for disjoint buffers.
//
//   std::vector<float> a = {1, 2}, b = {3, 4};
//   hilo::kernels::SumInto(a.data(), b.data(), 2, hilo::DataType::kFloat32);  // a = {4, 6}
//   hilo::kernels::DivideInPlace(a.data(), 2, hilo::DataType::kFloat32, 2);  // a = {2, 3}
#ifndef HILO_KERNELS_REDUCE_H_
#define HILO_KERNELS_REDUCE_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace hilo::kernels {

// The element-wise reductions besides the sum (which has fused, sliced and reduce-scatter paths
// of its own): Horovod's hvd.Min, hvd.Max and hvd.Product.
enum class Reduction { kMin, kMax, kProduct };

// inout[i] = op(inout[i], in[i]) for i in [0, count). 16-bit floats are compared or multiplied in
// float32 and rounded once; integer products wrap as two's complement. Min and max return the
// first operand when neither is smaller (so a NaN in `inout` stays, one in `in` does not
// replace a number: the transports' native ops decide NaNs their own way).
void ReduceInto(void* inout, const void* in, int64_t count, DataType dtype, Reduction op);

// inout[i] = inout[i] + in[i] for i in [0, count). Integers wrap as two's complement; 16-bit
// floats are added in float32 and rounded once to the 16-bit format (nearest, ties to even).
void SumInto(void* inout, const void* in, int64_t count, DataType dtype);

// data[i] = data[i] / divisor. Floating-point types divide in their own precision (16-bit floats
// via float32, rounded once); integer types truncate toward zero, as NCCL's ncclAvg does.
// divisor must be positive.
void DivideInPlace(void* data, int64_t count, DataType dtype, int64_t divisor);

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_REDUCE_H_
