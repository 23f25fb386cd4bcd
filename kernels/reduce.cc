#include "kernels/reduce.h"

#include "kernels/half.h"

namespace hilo::kernels {
namespace {

template <typename T>
void SumIntoTyped(T* __restrict inout, const T* __restrict in, int64_t count) {
  for (int64_t i = 0; i < count; ++i) inout[i] += in[i];
}

// Signed overflow is undefined in C++; wrap through the unsigned type like the hardware does.
template <typename T, typename U>
void SumIntoWrapping(T* __restrict inout, const T* __restrict in, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    inout[i] = static_cast<T>(static_cast<U>(inout[i]) + static_cast<U>(in[i]));
  }
}

template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void SumInto16(uint16_t* __restrict inout, const uint16_t* __restrict in, int64_t count) {
  for (int64_t i = 0; i < count; ++i) inout[i] = FromFloat(ToFloat(inout[i]) + ToFloat(in[i]));
}

template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void Divide16(uint16_t* data, int64_t count, float divisor) {
  for (int64_t i = 0; i < count; ++i) data[i] = FromFloat(ToFloat(data[i]) / divisor);
}

template <typename T>
void DivideTyped(T* data, int64_t count, T divisor) {
  for (int64_t i = 0; i < count; ++i) data[i] /= divisor;
}

}  // namespace

void SumInto(void* inout, const void* in, int64_t count, DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      SumIntoTyped(static_cast<float*>(inout), static_cast<const float*>(in), count);
      return;
    case DataType::kFloat64:
      SumIntoTyped(static_cast<double*>(inout), static_cast<const double*>(in), count);
      return;
    case DataType::kFloat16:
      SumInto16<Float16ToFloat, FloatToFloat16>(static_cast<uint16_t*>(inout),
                                                static_cast<const uint16_t*>(in), count);
      return;
    case DataType::kBFloat16:
      SumInto16<BFloat16ToFloat, FloatToBFloat16>(static_cast<uint16_t*>(inout),
                                                  static_cast<const uint16_t*>(in), count);
      return;
    case DataType::kInt32:
      SumIntoWrapping<int32_t, uint32_t>(static_cast<int32_t*>(inout),
                                         static_cast<const int32_t*>(in), count);
      return;
    case DataType::kInt64:
      SumIntoWrapping<int64_t, uint64_t>(static_cast<int64_t*>(inout),
                                         static_cast<const int64_t*>(in), count);
      return;
  }
}

void DivideInPlace(void* data, int64_t count, DataType dtype, int64_t divisor) {
  switch (dtype) {
    case DataType::kFloat32:
      DivideTyped(static_cast<float*>(data), count, static_cast<float>(divisor));
      return;
    case DataType::kFloat64:
      DivideTyped(static_cast<double*>(data), count, static_cast<double>(divisor));
      return;
    case DataType::kFloat16:
      Divide16<Float16ToFloat, FloatToFloat16>(static_cast<uint16_t*>(data), count,
                                               static_cast<float>(divisor));
      return;
    case DataType::kBFloat16:
      Divide16<BFloat16ToFloat, FloatToBFloat16>(static_cast<uint16_t*>(data), count,
                                                 static_cast<float>(divisor));
      return;
    case DataType::kInt32:
      DivideTyped(static_cast<int32_t*>(data), count, static_cast<int32_t>(divisor));
      return;
    case DataType::kInt64:
      DivideTyped(static_cast<int64_t*>(data), count, divisor);
      return;
  }
}

}  // namespace hilo::kernels
