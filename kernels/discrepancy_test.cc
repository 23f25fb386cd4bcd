#include "kernels/discrepancy.h"

#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"

namespace hilo::kernels {
namespace {

TEST(DiscrepancySumsTest, Float32) {
  const std::vector<float> before = {1, 2, 3};
  const std::vector<float> after = {1, 1, 5};
  SquaredSums sums = DiscrepancySums(before.data(), after.data(), 3, DataType::kFloat32);
  EXPECT_DOUBLE_EQ(sums.difference, 0 + 1 + 4);
  EXPECT_DOUBLE_EQ(sums.average, 1 + 1 + 25);
}

TEST(DiscrepancySumsTest, SixteenBitFormatsAccumulateInDouble) {
  // 4096 elements of 1 vs 0: a float16 accumulator would stop at 2048.
  const std::vector<uint16_t> ones(4096, FloatToFloat16(1.0f));
  const std::vector<uint16_t> zeros(4096, FloatToFloat16(0.0f));
  SquaredSums sums = DiscrepancySums(ones.data(), zeros.data(), 4096, DataType::kFloat16);
  EXPECT_DOUBLE_EQ(sums.difference, 4096);
  EXPECT_DOUBLE_EQ(sums.average, 0);
  const std::vector<uint16_t> twos(10, FloatToBFloat16(2.0f));
  sums = DiscrepancySums(zeros.data(), twos.data(), 10, DataType::kBFloat16);
  EXPECT_DOUBLE_EQ(sums.difference, 40);
  EXPECT_DOUBLE_EQ(sums.average, 40);
}

TEST(DiscrepancySumsTest, Float64AndEmpty) {
  const std::vector<double> before = {0.5}, after = {0.25};
  SquaredSums sums = DiscrepancySums(before.data(), after.data(), 1, DataType::kFloat64);
  EXPECT_DOUBLE_EQ(sums.difference, 0.0625);
  sums = DiscrepancySums(nullptr, nullptr, 0, DataType::kFloat32);
  EXPECT_EQ(sums.difference, 0);
  EXPECT_EQ(sums.average, 0);
}

}  // namespace
}  // namespace hilo::kernels
