#include "kernels/discrepancy.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"

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

}  // namespace
}  // namespace hilo::kernels
