#include "kernels/half.h"

#include <cmath>
#include <cstdint>

#include "gtest/gtest.h"

namespace hilo::kernels {
namespace {

TEST(Float16Test, EveryBitPatternSurvivesARoundTrip) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const uint16_t half = static_cast<uint16_t>(bits);
    const float widened = Float16ToFloat(half);
    if (std::isnan(widened)) {
      EXPECT_TRUE(std::isnan(Float16ToFloat(FloatToFloat16(widened)))) << std::hex << bits;
      continue;
    }
    EXPECT_EQ(FloatToFloat16(widened), half) << std::hex << bits;
  }
}

TEST(Float16Test, KnownValues) {
  EXPECT_EQ(Float16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(Float16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(Float16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(Float16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(FloatToFloat16(65520.0f), 0x7c00);  // rounds up to infinity
  EXPECT_EQ(FloatToFloat16(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToFloat16(std::ldexp(1.0f, -26)), 0x0000);  // below half the smallest subnormal
}

// Between every pair of neighbouring positive finite halves, the exact midpoint must round to the
// one with an even mantissa, and anything a float ulp off the midpoint to the nearer one.
TEST(Float16Test, RoundsToNearestTiesToEvenEverywhere) {
  for (uint16_t lower = 0; lower < 0x7bff; ++lower) {
    const uint16_t upper = lower + 1;
    const float low = Float16ToFloat(lower), high = Float16ToFloat(upper);
    const float mid = low + (high - low) / 2;  // exact: halves have 11 significant bits
    const uint16_t even = (lower & 1u) == 0 ? lower : upper;
    ASSERT_EQ(FloatToFloat16(mid), even) << "between " << low << " and " << high;
    ASSERT_EQ(FloatToFloat16(std::nextafter(mid, 0.0f)), lower) << low;
    ASSERT_EQ(FloatToFloat16(std::nextafter(mid, INFINITY)), upper) << high;
    ASSERT_EQ(FloatToFloat16(-mid), static_cast<uint16_t>(even | 0x8000u));
  }
}

TEST(BFloat16Test, RoundTripAndTies) {
  for (uint32_t bits = 0; bits <= 0xffffu; ++bits) {
    const float widened = BFloat16ToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(widened)) continue;
    EXPECT_EQ(FloatToBFloat16(widened), bits);
  }
  // 1 + 2^-8 is exactly between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 is between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to the even one.
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

}  // namespace
}  // namespace hilo::kernels
