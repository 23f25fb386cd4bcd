#include "kernels/discrepancy.h"

#include "kernels/half.h"
#include "kernels/reduce.h"

namespace hilo::kernels {
namespace {

// Eight independent accumulators: without them every addition waits for the previous one
// (floating-point addition may not be reordered), which makes the loop latency-bound.
template <typename T, typename ToDouble>
double Norm(const void* data, int64_t count, ToDouble to_double) {
  const T* values = static_cast<const T*>(data);
  double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int lane = 0; lane < 8; ++lane) {
      const double v = to_double(values[i + lane]);
      partial[lane] += v * v;
    }
  }
  for (; i < count; ++i) {
    const double v = to_double(values[i]);
    partial[0] += v * v;
  }
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

template <typename T>
double Widen(T value) {
  return static_cast<double>(value);
}

double WidenFloat16(uint16_t h) { return Float16ToFloat(h); }
double WidenBFloat16(uint16_t h) { return BFloat16ToFloat(h); }

// Native types: divide in their own precision (exactly what DivideInPlace does), then square.
template <typename T>
double DivideAndNorm(void* data, int64_t count, T divisor) {
  T* values = static_cast<T*>(data);
  double partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    for (int lane = 0; lane < 8; ++lane) {
      const T v = values[i + lane] / divisor;
      values[i + lane] = v;
      partial[lane] += static_cast<double>(v) * static_cast<double>(v);
    }
  }
  for (; i < count; ++i) {
    const T v = values[i] / divisor;
    values[i] = v;
    partial[0] += static_cast<double>(v) * static_cast<double>(v);
  }
  return ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
         ((partial[4] + partial[5]) + (partial[6] + partial[7]));
}

}  // namespace

double SquaredNorm(const void* data, int64_t count, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: return Norm<float>(data, count, Widen<float>);
    case DataType::kFloat64: return Norm<double>(data, count, Widen<double>);
    case DataType::kFloat16: return Norm<uint16_t>(data, count, WidenFloat16);
    case DataType::kBFloat16: return Norm<uint16_t>(data, count, WidenBFloat16);
    case DataType::kInt32: return Norm<int32_t>(data, count, Widen<int32_t>);
    case DataType::kInt64: return Norm<int64_t>(data, count, Widen<int64_t>);
  }
  return 0;
}

double DivideInPlaceAndSquaredNorm(void* data, int64_t count, DataType dtype, int64_t divisor) {
  switch (dtype) {
    case DataType::kFloat32: return DivideAndNorm<float>(data, count, static_cast<float>(divisor));
    case DataType::kFloat64: return DivideAndNorm<double>(data, count, static_cast<double>(divisor));
    case DataType::kInt32: return DivideAndNorm<int32_t>(data, count, static_cast<int32_t>(divisor));
    case DataType::kInt64: return DivideAndNorm<int64_t>(data, count, divisor);
    case DataType::kFloat16:
    case DataType::kBFloat16:
      // 16-bit formats divide through float32 (DivideInPlace); the second pass is over half the
      // bytes of a float32 model.
      DivideInPlace(data, count, dtype, divisor);
      return SquaredNorm(data, count, dtype);
  }
  return 0;
}

}  // namespace hilo::kernels
