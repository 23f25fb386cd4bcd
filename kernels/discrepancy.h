// The per-rank partial sums of hilo's model-discrepancy metric (docs/averaging.md).
//
// D = sum_g ||w_g - w_avg||^2 / (k ||w_avg||^2) is computed without keeping a copy of the
// parameters from before the average, using sum_g ||w_g - w_avg||^2 = sum_g ||w_g||^2 -
// k ||w_avg||^2: each rank adds up the squared norm of the slice it averages, once before and once
// after, and one tiny allreduce sums those over the job. The norms accumulate in float64 in
// several independent partial sums (so the loop pipelines), whatever the dtype.
// Pure; thread-safe for any buffers.
#ifndef HILO_KERNELS_DISCREPANCY_H_
#define HILO_KERNELS_DISCREPANCY_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace hilo::kernels {

// sum of data[i]^2 over `count` elements, in float64.
double SquaredNorm(const void* data, int64_t count, DataType dtype);

// DivideInPlace (kernels/reduce.h) and SquaredNorm of the result, in one pass over memory: the
// last step of an averaging round, where the data has just been summed across groups.
double DivideInPlaceAndSquaredNorm(void* data, int64_t count, DataType dtype, int64_t divisor);

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_DISCREPANCY_H_
