#include "kernels/cuda/cuda_kernel_set.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/batch_kernels.h"
#include "kernels/cuda/divide.h"

namespace hilo::kernels::cuda {
namespace {

// Returns the error of a CUDA runtime call (through the set's Check, naming the call and device).
#define HILO_CUDA_RETURN(call, what)                                      \
  do {                                                                    \
    if (absl::Status status = Check(static_cast<int>(call), what); !status.ok()) { \
      return status;                                                      \
    }                                                                     \
  } while (0)

static_assert(sizeof(DeviceSlice) == sizeof(PackSlice), "PackSlice and DeviceSlice must match");

class CudaKernelSet final : public KernelSet {
 public:
  CudaKernelSet(int device, cudaStream_t stream, bool owns_stream)
      : device_(device), stream_(stream), owns_stream_(owns_stream),
        name_(absl::StrCat("cuda:", device)) {}

  ~CudaKernelSet() override {
    cudaSetDevice(device_);
    if (slices_ != nullptr) cudaFree(slices_);
    if (result_ != nullptr) cudaFree(result_);
    if (owns_stream_) cudaStreamDestroy(stream_);
  }

  absl::Status Init() {
    HILO_CUDA_RETURN(cudaMalloc(reinterpret_cast<void**>(&result_), sizeof(double)), "cudaMalloc");
    return absl::OkStatus();
  }

  const char* name() const override { return name_.c_str(); }

  absl::Status Divide(void* data, int64_t count, DataType dtype, int64_t divisor) override {
    if (divisor <= 0) return absl::InvalidArgumentError("Divide: divisor must be positive");
    return Check(DivideInPlaceAsync(data, count, dtype, divisor, stream_), "DivideInPlaceAsync");
  }

  absl::Status CastFromFloat32(const float* in, void* out, int64_t count, DataType to) override {
    if (!IsSixteenBit(to)) return CastError("CastFromFloat32", to);
    return Check(CastFromFloat32Async(in, out, count, to, stream_), "CastFromFloat32Async");
  }

  absl::Status CastToFloat32(const void* in, DataType from, float* out, int64_t count) override {
    if (!IsSixteenBit(from)) return CastError("CastToFloat32", from);
    return Check(CastToFloat32Async(in, from, out, count, stream_), "CastToFloat32Async");
  }

  absl::Status Pack(absl::Span<const PackSlice> slices, void* buffer) override {
    int64_t largest = 0;
    if (absl::Status ok = UploadSlices(slices, &largest); !ok.ok()) return ok;
    return Check(PackAsync(slices_, static_cast<int>(slices.size()), largest, buffer, stream_),
                 "PackAsync");
  }

  absl::Status Unpack(const void* buffer, absl::Span<const PackSlice> slices) override {
    int64_t largest = 0;
    if (absl::Status ok = UploadSlices(slices, &largest); !ok.ok()) return ok;
    return Check(UnpackAsync(buffer, slices_, static_cast<int>(slices.size()), largest, stream_),
                 "UnpackAsync");
  }

  absl::StatusOr<double> SquaredNorm(const void* data, int64_t count, DataType dtype) override {
    HILO_CUDA_RETURN(cudaMemsetAsync(result_, 0, sizeof(double), stream_), "cudaMemsetAsync");
    if (absl::Status ok = Check(SquaredNormAsync(data, count, dtype, result_, stream_),
                                "SquaredNormAsync");
        !ok.ok()) {
      return ok;
    }
    return ReadResult();
  }

  absl::StatusOr<double> DivideAndSquaredNorm(void* data, int64_t count, DataType dtype,
                                              int64_t divisor) override {
    if (divisor <= 0) return absl::InvalidArgumentError("Divide: divisor must be positive");
    HILO_CUDA_RETURN(cudaMemsetAsync(result_, 0, sizeof(double), stream_), "cudaMemsetAsync");
    if (absl::Status ok = Check(
            DivideAndSquaredNormAsync(data, count, dtype, divisor, result_, stream_),
            "DivideAndSquaredNormAsync");
        !ok.ok()) {
      return ok;
    }
    return ReadResult();
  }

  absl::Status CopyToHost(const void* data, int64_t bytes, void* host) override {
    if (bytes <= 0) return absl::OkStatus();
    HILO_CUDA_RETURN(cudaMemcpyAsync(host, data, static_cast<size_t>(bytes),
                                     cudaMemcpyDeviceToHost, stream_),
                     "cudaMemcpyAsync");
    HILO_CUDA_RETURN(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return absl::OkStatus();
  }

  absl::Status Synchronize() override {
    HILO_CUDA_RETURN(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return absl::OkStatus();
  }

 private:
  absl::Status Check(int error, const char* call) const {
    if (error == cudaSuccess) return absl::OkStatus();
    return absl::InternalError(absl::StrCat(call, " on ", name_, ": ",
                                            cudaGetErrorString(static_cast<cudaError_t>(error))));
  }

  static bool IsSixteenBit(DataType dtype) {
    return dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
  }
  static absl::Status CastError(const char* call, DataType dtype) {
    return absl::InvalidArgumentError(absl::StrCat(
        call, ": casts go between float32 and float16 or bfloat16, not ", DataTypeName(dtype)));
  }

  // Copies the descriptors to device memory, where the batched kernel reads them. The host copy
  // is staged by CUDA before cudaMemcpyAsync returns, so it may be reused at once; the device
  // array is only rewritten by later work on the same stream.
  absl::Status UploadSlices(absl::Span<const PackSlice> slices, int64_t* largest) {
    *largest = 0;
    for (const PackSlice& slice : slices) *largest = std::max(*largest, slice.bytes);
    if (slices.empty()) return absl::OkStatus();
    if (slices.size() > slice_capacity_) {
      if (slices_ != nullptr) {
        HILO_CUDA_RETURN(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
        HILO_CUDA_RETURN(cudaFree(slices_), "cudaFree");
        slices_ = nullptr;
      }
      HILO_CUDA_RETURN(cudaMalloc(reinterpret_cast<void**>(&slices_),
                                  slices.size() * sizeof(DeviceSlice)),
                       "cudaMalloc");
      slice_capacity_ = slices.size();
    }
    HILO_CUDA_RETURN(cudaMemcpyAsync(slices_, slices.data(), slices.size() * sizeof(DeviceSlice),
                                     cudaMemcpyHostToDevice, stream_),
                     "cudaMemcpyAsync");
    return absl::OkStatus();
  }

  absl::StatusOr<double> ReadResult() {
    double value = 0;
    HILO_CUDA_RETURN(cudaMemcpyAsync(&value, result_, sizeof(double), cudaMemcpyDeviceToHost,
                                     stream_),
                     "cudaMemcpyAsync");
    HILO_CUDA_RETURN(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    return value;
  }
#undef HILO_CUDA_RETURN

  const int device_;
  const cudaStream_t stream_;
  const bool owns_stream_;
  const std::string name_;
  DeviceSlice* slices_ = nullptr;
  size_t slice_capacity_ = 0;
  double* result_ = nullptr;
};

class CudaWorkspace final : public Workspace {
 public:
  CudaWorkspace(int device, cudaStream_t stream) : device_(device), stream_(stream) {}
  ~CudaWorkspace() override {
    if (buffer_ != nullptr) cudaFree(buffer_);
  }

  absl::StatusOr<void*> Reserve(size_t bytes) override {
    if (bytes <= capacity_ && buffer_ != nullptr) return buffer_;
    cudaSetDevice(device_);
    if (buffer_ != nullptr) {
      // Work still queued on the stream may use the old buffer.
      if (cudaError_t error = cudaStreamSynchronize(stream_); error != cudaSuccess) {
        return Failed("cudaStreamSynchronize", error);
      }
      cudaFree(buffer_);
      buffer_ = nullptr;
      capacity_ = 0;
    }
    if (cudaError_t error = cudaMalloc(&buffer_, bytes == 0 ? 1 : bytes); error != cudaSuccess) {
      buffer_ = nullptr;
      return Failed("cudaMalloc", error);
    }
    capacity_ = bytes;
    return buffer_;
  }

 private:
  absl::Status Failed(const char* call, cudaError_t error) const {
    return absl::ResourceExhaustedError(absl::StrCat(call, " of a workspace on cuda:", device_,
                                                     ": ", cudaGetErrorString(error)));
  }

  const int device_;
  const cudaStream_t stream_;
  void* buffer_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace

std::unique_ptr<Workspace> MakeCudaWorkspace(int device, void* stream) {
  return std::make_unique<CudaWorkspace>(device, static_cast<cudaStream_t>(stream));
}

absl::StatusOr<std::unique_ptr<KernelSet>> MakeCudaKernelSet(int device, void* stream) {
  int devices = 0;
  const cudaError_t counted = cudaGetDeviceCount(&devices);
  if (counted != cudaSuccess || device < 0 || device >= devices) {
    return absl::UnavailableError(absl::StrCat(
        "no CUDA device ", device, " (",
        counted != cudaSuccess ? cudaGetErrorString(counted) : absl::StrCat(devices, " devices"),
        ")"));
  }
  if (cudaError_t error = cudaSetDevice(device); error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cudaSetDevice(", device, "): ",
                                               cudaGetErrorString(error)));
  }
  cudaStream_t chosen = static_cast<cudaStream_t>(stream);
  const bool owns = chosen == nullptr;
  if (owns) {
    if (cudaError_t error = cudaStreamCreateWithFlags(&chosen, cudaStreamNonBlocking);
        error != cudaSuccess) {
      return absl::UnavailableError(absl::StrCat("cudaStreamCreateWithFlags: ",
                                                 cudaGetErrorString(error)));
    }
  }
  auto set = std::make_unique<CudaKernelSet>(device, chosen, owns);
  if (absl::Status status = set->Init(); !status.ok()) return status;
  return std::unique_ptr<KernelSet>(std::move(set));
}

}  // namespace hilo::kernels::cuda
