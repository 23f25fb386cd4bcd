#include "kernels/kernel_set.h"

#include <cstring>
#include <string>
#include <vector>

#include "kernels/discrepancy.h"
#include "kernels/half.h"
#include "kernels/reduce.h"

namespace hilo::kernels {
namespace {

absl::Status RequireSixteenBit(DataType dtype, const char* call) {
  if (dtype == DataType::kFloat16 || dtype == DataType::kBFloat16) return absl::OkStatus();
  return absl::InvalidArgumentError(
      std::string(call) + ": casts go between float32 and float16 or bfloat16, not " +
      std::string(DataTypeName(dtype)));
}

class CpuKernelSet final : public KernelSet {
 public:
  const char* name() const override { return "cpu"; }

  absl::Status Divide(void* data, int64_t count, DataType dtype, int64_t divisor) override {
    if (divisor <= 0) return absl::InvalidArgumentError("Divide: divisor must be positive");
    DivideInPlace(data, count, dtype, divisor);
    return absl::OkStatus();
  }

  absl::Status CastFromFloat32(const float* in, void* out, int64_t count, DataType to) override {
    if (absl::Status ok = RequireSixteenBit(to, "CastFromFloat32"); !ok.ok()) return ok;
    uint16_t* halves = static_cast<uint16_t*>(out);
    if (to == DataType::kFloat16) {
      for (int64_t i = 0; i < count; ++i) halves[i] = FloatToFloat16(in[i]);
    } else {
      for (int64_t i = 0; i < count; ++i) halves[i] = FloatToBFloat16(in[i]);
    }
    return absl::OkStatus();
  }

  absl::Status CastToFloat32(const void* in, DataType from, float* out, int64_t count) override {
    if (absl::Status ok = RequireSixteenBit(from, "CastToFloat32"); !ok.ok()) return ok;
    const uint16_t* halves = static_cast<const uint16_t*>(in);
    if (from == DataType::kFloat16) {
      for (int64_t i = 0; i < count; ++i) out[i] = Float16ToFloat(halves[i]);
    } else {
      for (int64_t i = 0; i < count; ++i) out[i] = BFloat16ToFloat(halves[i]);
    }
    return absl::OkStatus();
  }

  absl::Status Pack(absl::Span<const PackSlice> slices, void* buffer) override {
    char* out = static_cast<char*>(buffer);
    for (const PackSlice& slice : slices) {
      // An empty tensor's data may be null, which memcpy must not be given even for 0 bytes.
      if (slice.bytes == 0) continue;
      std::memcpy(out + slice.offset, slice.tensor, static_cast<size_t>(slice.bytes));
    }
    return absl::OkStatus();
  }

  absl::Status Unpack(const void* buffer, absl::Span<const PackSlice> slices) override {
    const char* in = static_cast<const char*>(buffer);
    for (const PackSlice& slice : slices) {
      if (slice.bytes == 0) continue;  // as in Pack
      std::memcpy(slice.tensor, in + slice.offset, static_cast<size_t>(slice.bytes));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<double> SquaredNorm(const void* data, int64_t count, DataType dtype) override {
    return kernels::SquaredNorm(data, count, dtype);
  }

  absl::StatusOr<double> DivideAndSquaredNorm(void* data, int64_t count, DataType dtype,
                                              int64_t divisor) override {
    if (divisor <= 0) return absl::InvalidArgumentError("Divide: divisor must be positive");
    return DivideInPlaceAndSquaredNorm(data, count, dtype, divisor);
  }

  absl::Status CopyToHost(const void* data, int64_t bytes, void* host) override {
    if (bytes > 0) std::memcpy(host, data, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }

  absl::Status Synchronize() override { return absl::OkStatus(); }
};

class HostWorkspace final : public Workspace {
 public:
  absl::StatusOr<void*> Reserve(size_t bytes) override {
    if (buffer_.size() < bytes) buffer_.resize(bytes);
    return buffer_.data();
  }

 private:
  std::vector<char> buffer_;
};

}  // namespace

std::unique_ptr<KernelSet> MakeCpuKernelSet() { return std::make_unique<CpuKernelSet>(); }

std::unique_ptr<Workspace> MakeHostWorkspace() { return std::make_unique<HostWorkspace>(); }

}  // namespace hilo::kernels
