#include "kernels/reduce.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"

namespace hilo::kernels {
namespace {

TEST(SumIntoTest, Float32AndFloat64) {
  std::vector<float> a = {1.5f, -2.0f, 0.0f};
  const std::vector<float> b = {0.25f, 2.0f, 7.0f};
  SumInto(a.data(), b.data(), 3, DataType::kFloat32);
  EXPECT_EQ(a, (std::vector<float>{1.75f, 0.0f, 7.0f}));

  std::vector<double> c = {1e300, 1.0};
  const std::vector<double> d = {1e300, 1e-300};
  SumInto(c.data(), d.data(), 2, DataType::kFloat64);
  EXPECT_EQ(c[0], 2e300);
  EXPECT_EQ(c[1], 1.0);
}

TEST(SumIntoTest, IntegersWrapInsteadOfOverflowing) {
  std::vector<int32_t> a = {std::numeric_limits<int32_t>::max(), -5};
  const std::vector<int32_t> b = {1, 3};
  SumInto(a.data(), b.data(), 2, DataType::kInt32);
  EXPECT_EQ(a[0], std::numeric_limits<int32_t>::min());
  EXPECT_EQ(a[1], -2);

  std::vector<int64_t> c = {int64_t{1} << 40};
  const std::vector<int64_t> d = {int64_t{1} << 40};
  SumInto(c.data(), d.data(), 1, DataType::kInt64);
  EXPECT_EQ(c[0], int64_t{1} << 41);
}

TEST(SumIntoTest, Float16AddsLikeANative16BitAdder) {
  // 2048 + 1 is a tie in float16 (ulp 2 there): it rounds to the even 2048, not to 2050.
  std::vector<uint16_t> a = {FloatToFloat16(2048.0f), FloatToFloat16(0.5f), FloatToFloat16(60000.0f)};
  const std::vector<uint16_t> b = {FloatToFloat16(1.0f), FloatToFloat16(0.25f), FloatToFloat16(10000.0f)};
  SumInto(a.data(), b.data(), 3, DataType::kFloat16);
  EXPECT_EQ(Float16ToFloat(a[0]), 2048.0f);
  EXPECT_EQ(Float16ToFloat(a[1]), 0.75f);
  EXPECT_TRUE(std::isinf(Float16ToFloat(a[2])));  // overflow saturates to inf, as on a GPU
}

TEST(SumIntoTest, BFloat16KeepsItsOwnPrecision) {
  // 256 + 1 is not representable in bfloat16 (8 significant bits): stays 256. If the sum were
  // silently done and kept in float32 the result would be 257.
  std::vector<uint16_t> a = {FloatToBFloat16(256.0f), FloatToBFloat16(1.5f)};
  const std::vector<uint16_t> b = {FloatToBFloat16(1.0f), FloatToBFloat16(1.5f)};
  SumInto(a.data(), b.data(), 2, DataType::kBFloat16);
  EXPECT_EQ(BFloat16ToFloat(a[0]), 256.0f);
  EXPECT_EQ(BFloat16ToFloat(a[1]), 3.0f);
}

TEST(ReduceIntoTest, MinMaxProductOfFloatsAndIntegers) {
  const std::vector<float> other = {2.0f, -3.0f, 0.5f};
  for (auto [op, expected] :
       {std::pair{Reduction::kMin, std::vector<float>{1.0f, -3.0f, 0.5f}},
        std::pair{Reduction::kMax, std::vector<float>{2.0f, 4.0f, 8.0f}},
        std::pair{Reduction::kProduct, std::vector<float>{2.0f, -12.0f, 4.0f}}}) {
    std::vector<float> a = {1.0f, 4.0f, 8.0f};
    ReduceInto(a.data(), other.data(), 3, DataType::kFloat32, op);
    EXPECT_EQ(a, expected) << static_cast<int>(op);
  }
  std::vector<double> d = {-1e300, 7.0};
  const std::vector<double> e = {1e300, 7.0};
  ReduceInto(d.data(), e.data(), 2, DataType::kFloat64, Reduction::kMax);
  EXPECT_EQ(d, (std::vector<double>{1e300, 7.0}));

  std::vector<int32_t> i = {std::numeric_limits<int32_t>::min(), 65536, -7};
  const std::vector<int32_t> j = {5, 65536, 3};
  std::vector<int32_t> product = i;
  ReduceInto(product.data(), j.data(), 3, DataType::kInt32, Reduction::kProduct);
  EXPECT_EQ(product, (std::vector<int32_t>{std::numeric_limits<int32_t>::min(), 0, -21}))
      << "integer products wrap";
  ReduceInto(i.data(), j.data(), 3, DataType::kInt32, Reduction::kMin);
  EXPECT_EQ(i, (std::vector<int32_t>{std::numeric_limits<int32_t>::min(), 65536, -7}));
  std::vector<int64_t> k = {int64_t{1} << 40, -2};
  const std::vector<int64_t> l = {3, -5};
  ReduceInto(k.data(), l.data(), 2, DataType::kInt64, Reduction::kMax);
  EXPECT_EQ(k, (std::vector<int64_t>{int64_t{1} << 40, -2}));
}

TEST(ReduceIntoTest, SixteenBitFloatsCompareByValueAndRoundProductsOnce) {
  for (auto [dtype, to_float, from_float] :
       {std::tuple{DataType::kFloat16, &Float16ToFloat, &FloatToFloat16},
        std::tuple{DataType::kBFloat16, &BFloat16ToFloat, &FloatToBFloat16}}) {
    SCOPED_TRACE(static_cast<int>(dtype));
    const std::vector<float> values_a = {1.5f, -2.0f, 3.0f};
    const std::vector<float> values_b = {-0.25f, 5.0f, 3.0f};
    std::vector<uint16_t> a, b;
    for (float v : values_a) a.push_back(from_float(v));
    for (float v : values_b) b.push_back(from_float(v));
    std::vector<uint16_t> low = a, high = a, product = a;
    ReduceInto(low.data(), b.data(), 3, dtype, Reduction::kMin);
    ReduceInto(high.data(), b.data(), 3, dtype, Reduction::kMax);
    ReduceInto(product.data(), b.data(), 3, dtype, Reduction::kProduct);
    EXPECT_EQ(low, (std::vector<uint16_t>{b[0], a[1], a[2]}));
    EXPECT_EQ(high, (std::vector<uint16_t>{a[0], b[1], a[2]}));
    for (int n = 0; n < 3; ++n) {
      EXPECT_EQ(product[n], from_float(to_float(a[n]) * to_float(b[n]))) << n;
    }
    EXPECT_EQ(to_float(product[1]), -10.0f);
  }
}

TEST(DivideInPlaceTest, EveryDtype) {
  std::vector<float> f = {3.0f, -1.0f};
  DivideInPlace(f.data(), 2, DataType::kFloat32, 4);
  EXPECT_EQ(f, (std::vector<float>{0.75f, -0.25f}));

  std::vector<double> d = {1.0};
  DivideInPlace(d.data(), 1, DataType::kFloat64, 3);
  EXPECT_EQ(d[0], 1.0 / 3.0);

  std::vector<uint16_t> h = {FloatToFloat16(6.0f)};
  DivideInPlace(h.data(), 1, DataType::kFloat16, 4);
  EXPECT_EQ(Float16ToFloat(h[0]), 1.5f);

  std::vector<uint16_t> bf = {FloatToBFloat16(-8.0f)};
  DivideInPlace(bf.data(), 1, DataType::kBFloat16, 8);
  EXPECT_EQ(BFloat16ToFloat(bf[0]), -1.0f);

  std::vector<int32_t> i = {7, -7};
  DivideInPlace(i.data(), 2, DataType::kInt32, 2);
  EXPECT_EQ(i, (std::vector<int32_t>{3, -3}));  // truncation toward zero

  std::vector<int64_t> l = {int64_t{9} << 40};
  DivideInPlace(l.data(), 1, DataType::kInt64, 3);
  EXPECT_EQ(l[0], int64_t{3} << 40);
}

TEST(DivideInPlaceTest, ZeroElementsIsANoOp) {
  DivideInPlace(nullptr, 0, DataType::kFloat32, 2);
  SumInto(nullptr, nullptr, 0, DataType::kBFloat16);
}

TEST(DataTypeTest, SizesAndNames) {
  EXPECT_EQ(DataTypeSize(DataType::kBFloat16), 2u);
  EXPECT_EQ(DataTypeSize(DataType::kInt64), 8u);
  EXPECT_STREQ(DataTypeName(DataType::kFloat16), "float16");
  EXPECT_FALSE(IsValidDataType(6));
  EXPECT_FALSE(IsValidDataType(-1));
  EXPECT_TRUE(IsValidDataType(3));
}

}  // namespace
}  // namespace hilo::kernels
