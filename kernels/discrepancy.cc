#include "kernels/discrepancy.h"

#include "kernels/half.h"

namespace hilo::kernels {
namespace {

template <typename T, typename ToDouble>
SquaredSums Sums(const void* before, const void* after, int64_t count, ToDouble to_double) {
  const T* b = static_cast<const T*>(before);
  const T* a = static_cast<const T*>(after);
  SquaredSums sums;
  for (int64_t i = 0; i < count; ++i) {
    const double avg = to_double(a[i]);
    const double diff = to_double(b[i]) - avg;
    sums.difference += diff * diff;
    sums.average += avg * avg;
  }
  return sums;
}

template <typename T>
double Widen(T value) {
  return static_cast<double>(value);
}

}  // namespace

SquaredSums DiscrepancySums(const void* before, const void* after, int64_t count, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: return Sums<float>(before, after, count, Widen<float>);
    case DataType::kFloat64: return Sums<double>(before, after, count, Widen<double>);
    case DataType::kFloat16:
      return Sums<uint16_t>(before, after, count, [](uint16_t h) { return double{Float16ToFloat(h)}; });
    case DataType::kBFloat16:
      return Sums<uint16_t>(before, after, count, [](uint16_t h) { return double{BFloat16ToFloat(h)}; });
    case DataType::kInt32: return Sums<int32_t>(before, after, count, Widen<int32_t>);
    case DataType::kInt64: return Sums<int64_t>(before, after, count, Widen<int64_t>);
  }
  return {};
}

}  // namespace hilo::kernels
