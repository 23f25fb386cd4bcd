// The per-rank partial sums of hilo's model-discrepancy metric (docs/averaging.md).
//
// For a slice of parameters before (a group's model) and after (the cross-group average)
// averaging: sum (before - after)^2 and sum after^2, accumulated in float64 whatever the dtype.
// Summed over ranks, their ratio is D = sum_g ||w_g - w_avg||^2 / (k ||w_avg||^2).
// Pure; thread-safe for any buffers.
#ifndef HILO_KERNELS_DISCREPANCY_H_
#define HILO_KERNELS_DISCREPANCY_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace hilo::kernels {

struct SquaredSums {
  double difference = 0;  // sum (before - after)^2
  double average = 0;     // sum after^2
};

SquaredSums DiscrepancySums(const void* before, const void* after, int64_t count, DataType dtype);

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_DISCREPANCY_H_
