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

template <typename T>
T Apply(Reduction op, T a, T b) {
  switch (op) {
    case Reduction::kMin:
      return b < a ? b : a;
    case Reduction::kMax:
      return a < b ? b : a;
    case Reduction::kProduct:
      return a * b;
  }
  return a;
}

template <typename T>
void ReduceIntoTyped(T* __restrict inout, const T* __restrict in, int64_t count, Reduction op) {
  for (int64_t i = 0; i < count; ++i) inout[i] = Apply(op, inout[i], in[i]);
}

// Integer products wrap through the unsigned type (signed overflow is undefined in C++).
template <typename T, typename U>
void ReduceIntoInteger(T* __restrict inout, const T* __restrict in, int64_t count, Reduction op) {
  if (op != Reduction::kProduct) {
    ReduceIntoTyped(inout, in, count, op);
    return;
  }
  for (int64_t i = 0; i < count; ++i) {
    inout[i] = static_cast<T>(static_cast<U>(inout[i]) * static_cast<U>(in[i]));
  }
}

// Min and max keep the chosen operand's exact bits; the product is rounded once.
template <float (*ToFloat)(uint16_t), uint16_t (*FromFloat)(float)>
void ReduceInto16(uint16_t* __restrict inout, const uint16_t* __restrict in, int64_t count,
                  Reduction op) {
  for (int64_t i = 0; i < count; ++i) {
    const float a = ToFloat(inout[i]);
    const float b = ToFloat(in[i]);
    switch (op) {
      case Reduction::kMin:
        if (b < a) inout[i] = in[i];
        break;
      case Reduction::kMax:
        if (a < b) inout[i] = in[i];
        break;
      case Reduction::kProduct:
        inout[i] = FromFloat(a * b);
        break;
    }
  }
}

}  // namespace

void ReduceInto(void* inout, const void* in, int64_t count, DataType dtype, Reduction op) {
  switch (dtype) {
    case DataType::kFloat32:
      ReduceIntoTyped(static_cast<float*>(inout), static_cast<const float*>(in), count, op);
      return;
    case DataType::kFloat64:
      ReduceIntoTyped(static_cast<double*>(inout), static_cast<const double*>(in), count, op);
      return;
    case DataType::kFloat16:
      ReduceInto16<Float16ToFloat, FloatToFloat16>(static_cast<uint16_t*>(inout),
                                                   static_cast<const uint16_t*>(in), count, op);
      return;
    case DataType::kBFloat16:
      ReduceInto16<BFloat16ToFloat, FloatToBFloat16>(static_cast<uint16_t*>(inout),
                                                     static_cast<const uint16_t*>(in), count, op);
      return;
    case DataType::kInt32:
      ReduceIntoInteger<int32_t, uint32_t>(static_cast<int32_t*>(inout),
                                           static_cast<const int32_t*>(in), count, op);
      return;
    case DataType::kInt64:
      ReduceIntoInteger<int64_t, uint64_t>(static_cast<int64_t*>(inout),
                                           static_cast<const int64_t*>(in), count, op);
      return;
  }
}

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
