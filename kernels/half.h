// Bit-exact conversions between float32 and the two 16-bit float formats, float16 and bfloat16.
//
// The CPU has no 16-bit float arithmetic, so hilo sums 16-bit values by widening both operands to
// float32, adding, and rounding back once (round to nearest, ties to even) — the result a native
// 16-bit adder gives. Values are carried as raw uint16_t bits so that nothing in hilo converts them
// silently. All functions are pure and thread-safe.
#ifndef HILO_KERNELS_HALF_H_
#define HILO_KERNELS_HALF_H_

#include <cstdint>
#include <cstring>

namespace hilo::kernels {

inline uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

inline float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

inline float Float16ToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    // Zero or subnormal: the value is mantissa * 2^-24, exact in float32.
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return BitsToFloat(FloatBits(magnitude) | sign);
  }
  if (exponent == 31) return BitsToFloat(sign | 0x7f800000u | (mantissa << 13));  // inf / NaN
  return BitsToFloat(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline uint16_t FloatToFloat16(float value) {
  uint32_t bits = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  bits &= 0x7fffffffu;
  if (bits >= 0x7f800000u) {  // inf stays inf; NaN stays a quiet NaN with its top payload bits
    return sign | 0x7c00u | (bits > 0x7f800000u ? (0x200u | ((bits >> 13) & 0x3ffu)) : 0u);
  }
  if (bits >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
  if (bits < 0x38800000u) {
    // Result is subnormal (or zero). Adding 0.5f lines the float mantissa up with the float16
    // subnormal unit (2^-24), so the FPU's own round-to-nearest-even does the rounding.
    const float shifted = BitsToFloat(bits) + 0.5f;
    return sign | static_cast<uint16_t>(FloatBits(shifted) - 0x3f000000u);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits to nearest even.
  const uint32_t odd = (bits >> 13) & 1u;
  bits += 0xc8000fffu + odd;
  return sign | static_cast<uint16_t>(bits >> 13);
}

inline float BFloat16ToFloat(uint16_t bf16) { return BitsToFloat(static_cast<uint32_t>(bf16) << 16); }

inline uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((bits >> 16) | 0x40u);  // keep NaN a (quiet) NaN
  }
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

}  // namespace hilo::kernels

#endif  // HILO_KERNELS_HALF_H_
