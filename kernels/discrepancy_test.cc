#include "kernels/discrepancy.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"
#include "kernels/reduce.h"

namespace hilo::kernels {
namespace {

TEST(SquaredNormTest, EveryLengthAroundTheUnrolledBlock) {
  for (int n = 0; n <= 19; ++n) {
    std::vector<float> values(n);
    double expected = 0;
    for (int i = 0; i < n; ++i) {
      values[i] = 0.5f * static_cast<float>(i) - 3.0f;
      expected += static_cast<double>(values[i]) * values[i];
    }
    EXPECT_DOUBLE_EQ(SquaredNorm(values.data(), n, DataType::kFloat32), expected) << n;
  }
}

TEST(SquaredNormTest, SixteenBitFormatsAccumulateInDouble) {
  // 4096 ones: a float16 accumulator would stop at 2048.
  const std::vector<uint16_t> ones(4096, FloatToFloat16(1.0f));
  EXPECT_DOUBLE_EQ(SquaredNorm(ones.data(), 4096, DataType::kFloat16), 4096);
  const std::vector<uint16_t> twos(10, FloatToBFloat16(-2.0f));
  EXPECT_DOUBLE_EQ(SquaredNorm(twos.data(), 10, DataType::kBFloat16), 40);
}

TEST(SquaredNormTest, OtherDtypes) {
  const std::vector<double> d = {0.5, 0.25};
  EXPECT_DOUBLE_EQ(SquaredNorm(d.data(), 2, DataType::kFloat64), 0.3125);
  const std::vector<int64_t> l = {int64_t{1} << 20};
  EXPECT_DOUBLE_EQ(SquaredNorm(l.data(), 1, DataType::kInt64), std::ldexp(1.0, 40));
}

TEST(DivideInPlaceAndSquaredNormTest, MatchesTheTwoSeparateKernelsBitForBit) {
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                         DataType::kBFloat16, DataType::kInt32, DataType::kInt64}) {
    const int n = 37;
    std::vector<char> a(n * DataTypeSize(dtype)), b;
    for (int i = 0; i < n; ++i) {
      const float value = 1.7f * static_cast<float>(i) - 20.0f;
      char* out = a.data() + i * DataTypeSize(dtype);
      switch (dtype) {
        case DataType::kFloat32: std::memcpy(out, &value, 4); break;
        case DataType::kFloat64: { double d = value; std::memcpy(out, &d, 8); break; }
        case DataType::kFloat16: { uint16_t h = FloatToFloat16(value); std::memcpy(out, &h, 2); break; }
        case DataType::kBFloat16: { uint16_t h = FloatToBFloat16(value); std::memcpy(out, &h, 2); break; }
        case DataType::kInt32: { int32_t x = static_cast<int32_t>(value); std::memcpy(out, &x, 4); break; }
        case DataType::kInt64: { int64_t x = static_cast<int64_t>(value); std::memcpy(out, &x, 8); break; }
      }
    }
    b = a;
    const double fused = DivideInPlaceAndSquaredNorm(a.data(), n, dtype, 3);
    DivideInPlace(b.data(), n, dtype, 3);
    EXPECT_EQ(a, b) << DataTypeName(dtype);
    EXPECT_DOUBLE_EQ(fused, SquaredNorm(b.data(), n, dtype)) << DataTypeName(dtype);
  }
}

}  // namespace
}  // namespace hilo::kernels
