// Element types that hilo moves and reduces, and their sizes.
//
// This is the one definition of a dtype in hilo's C++ code: kernels, transports, the runtime and
// the C++ client API all use it (the C ABI and the wire protocol have their own enums, converted in
// one place each). Pure data; thread-safe.
#ifndef HILO_KERNELS_DTYPE_H_
#define HILO_KERNELS_DTYPE_H_

#include <cstddef>
#include <cstdint>

namespace hilo {

enum class DataType : int {
  kFloat32 = 0,
  kFloat64 = 1,
  kFloat16 = 2,   // IEEE 754 binary16
  kBFloat16 = 3,  // bfloat16: float32 with the low 16 mantissa bits dropped
  kInt32 = 4,
  kInt64 = 5,
};

inline constexpr int kNumDataTypes = 6;

// True for the values declared above; anything else (an out-of-range cast) is not a dtype.
constexpr bool IsValidDataType(int value) { return value >= 0 && value < kNumDataTypes; }

// Bytes per element.
constexpr size_t DataTypeSize(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: return 4;
    case DataType::kFloat64: return 8;
    case DataType::kFloat16: return 2;
    case DataType::kBFloat16: return 2;
    case DataType::kInt32: return 4;
    case DataType::kInt64: return 8;
  }
  return 0;
}

constexpr bool IsFloatingPoint(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat64 ||
         dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
}

// "float32", "bfloat16", ...; "invalid" for values outside the enum.
const char* DataTypeName(DataType dtype);

}  // namespace hilo

#endif  // HILO_KERNELS_DTYPE_H_
