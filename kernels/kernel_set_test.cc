// The CPU kernel set: the reference the CUDA set is tested against (kernels/cuda).
#include "kernels/kernel_set.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/discrepancy.h"
#include "kernels/half.h"

namespace hilo::kernels {
namespace {

TEST(CpuKernelSetTest, PackAndUnpackManyTensorsRoundTrip) {
  std::unique_ptr<KernelSet> kernels = MakeCpuKernelSet();
  std::vector<std::vector<char>> tensors;
  std::vector<PackSlice> slices;
  int64_t offset = 0;
  for (int t = 0; t < 37; ++t) {
    tensors.emplace_back(1 + 13 * t);  // odd sizes: unaligned offsets
    for (size_t i = 0; i < tensors.back().size(); ++i) tensors.back()[i] = static_cast<char>(t * 7 + i);
    slices.push_back({tensors.back().data(), offset, static_cast<int64_t>(tensors.back().size())});
    offset += tensors.back().size();
  }
  std::vector<char> buffer(offset);
  ASSERT_TRUE(kernels->Pack(slices, buffer.data()).ok());
  EXPECT_EQ(buffer[slices[5].offset + 3], tensors[5][3]);
  const std::vector<std::vector<char>> original = tensors;
  for (auto& tensor : tensors) std::fill(tensor.begin(), tensor.end(), 0);
  ASSERT_TRUE(kernels->Unpack(buffer.data(), slices).ok());
  EXPECT_EQ(tensors, original);
  ASSERT_TRUE(kernels->Synchronize().ok());
}

TEST(CpuKernelSetTest, CopyToHostCopiesTheBytes) {
  std::unique_ptr<KernelSet> kernels = MakeCpuKernelSet();
  const std::vector<char> source = {1, 2, 3, 4, 5, 6, 7};
  std::vector<char> copy(source.size(), 0);
  ASSERT_TRUE(kernels->CopyToHost(source.data(), 7, copy.data()).ok());
  EXPECT_EQ(copy, source);
  ASSERT_TRUE(kernels->CopyToHost(nullptr, 0, nullptr).ok());  // nothing to copy
}

TEST(CpuKernelSetTest, CastsRoundToNearestEvenAndBackExactly) {
  std::unique_ptr<KernelSet> kernels = MakeCpuKernelSet();
  const std::vector<float> values = {0.0f, -0.0f, 1.0f, 1.0f / 3, 65504.0f, 1e-8f, -2.5e4f,
                                     std::numeric_limits<float>::infinity(), 1.00048828125f};
  for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
    std::vector<uint16_t> halves(values.size());
    ASSERT_TRUE(kernels->CastFromFloat32(values.data(), halves.data(), values.size(), dtype).ok());
    std::vector<float> back(values.size());
    ASSERT_TRUE(kernels->CastToFloat32(halves.data(), dtype, back.data(), values.size()).ok());
    for (size_t i = 0; i < values.size(); ++i) {
      const uint16_t expected =
          dtype == DataType::kFloat16 ? FloatToFloat16(values[i]) : FloatToBFloat16(values[i]);
      EXPECT_EQ(halves[i], expected) << DataTypeName(dtype) << " " << values[i];
      EXPECT_EQ(back[i], dtype == DataType::kFloat16 ? Float16ToFloat(expected)
                                                     : BFloat16ToFloat(expected));
    }
  }
  // 1 + 2^-11 is halfway between two float16 values: ties go to the even one (1.0).
  uint16_t tie = 0;
  const float halfway = 1.00048828125f;
  ASSERT_TRUE(kernels->CastFromFloat32(&halfway, &tie, 1, DataType::kFloat16).ok());
  EXPECT_EQ(tie, 0x3c00);
  float f = 0;
  EXPECT_EQ(kernels->CastFromFloat32(&f, &tie, 1, DataType::kInt32).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(kernels->CastToFloat32(&tie, DataType::kFloat64, &f, 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CpuKernelSetTest, DivideAndNormsMatchTheReductionKernels) {
  std::unique_ptr<KernelSet> kernels = MakeCpuKernelSet();
  std::vector<float> data(1001);
  for (size_t i = 0; i < data.size(); ++i) data[i] = 0.5f * static_cast<float>(i % 17) - 3.0f;
  EXPECT_DOUBLE_EQ(*kernels->SquaredNorm(data.data(), data.size(), DataType::kFloat32),
                   SquaredNorm(data.data(), data.size(), DataType::kFloat32));
  std::vector<float> divided = data;
  ASSERT_TRUE(kernels->Divide(divided.data(), divided.size(), DataType::kFloat32, 4).ok());
  EXPECT_EQ(divided[5], data[5] / 4);
  std::vector<float> fused = data;
  const absl::StatusOr<double> norm =
      kernels->DivideAndSquaredNorm(fused.data(), fused.size(), DataType::kFloat32, 4);
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(fused, divided);
  EXPECT_DOUBLE_EQ(*norm, SquaredNorm(divided.data(), divided.size(), DataType::kFloat32));
  EXPECT_EQ(kernels->Divide(data.data(), 1, DataType::kFloat32, 0).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hilo::kernels
