#include "runtime/transport/gpu/gpu_support.h"

#include "gtest/gtest.h"

namespace hilo::transport {
namespace {

// Needs no GPU: NCCL answers its version without one. Proves the library links and loads, and
// that it is the one whose header we compiled against.
TEST(GpuSupportTest, NcclLibraryMatchesItsHeader) {
  if (!BuiltWithCuda()) {
    EXPECT_EQ(NcclRuntimeVersion().status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(NcclHeaderVersion(), 0);
    GTEST_SKIP() << "CPU-only build";
  }
  absl::StatusOr<int> version = NcclRuntimeVersion();
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version / 100, NcclHeaderVersion() / 100)
      << "runtime NCCL " << NcclVersionString(*version) << ", header "
      << NcclVersionString(NcclHeaderVersion());
}

TEST(GpuSupportTest, VersionStrings) {
  EXPECT_EQ(NcclVersionString(22809), "2.28.9");
  EXPECT_EQ(NcclVersionString(2804), "2.8.4");
}

TEST(GpuSupportTest, DeviceCountIsPositiveOrExplained) {
  absl::StatusOr<int> devices = CudaDeviceCount();
  if (!devices.ok()) {
    EXPECT_EQ(devices.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_FALSE(devices.status().message().empty());
    GTEST_SKIP() << "no GPU here: " << devices.status().message();
  }
  EXPECT_GT(*devices, 0);
}

}  // namespace
}  // namespace hilo::transport
