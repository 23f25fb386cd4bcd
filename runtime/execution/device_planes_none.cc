// CPU-only builds: no NCCL data plane. Enqueue already refuses CUDA tensors in such builds; this
// is the last line, should one reach execution.
#include "absl/strings/str_cat.h"
#include "runtime/execution/device_planes.h"

namespace hilo {
namespace {

class NoDevicePlanes final : public DevicePlanes {
 public:
  absl::StatusOr<DataPlane*> For(CommunicatorKind kind, int device) override {
    return absl::FailedPreconditionError(absl::StrCat(
        "a tensor on CUDA device ", device, " reached the ", CommunicatorKindName(kind),
        " communicator, but this hilo was built without CUDA"));
  }
  absl::Status WaitForEvent(CommunicatorKind, void*) override {
    return absl::FailedPreconditionError("this hilo was built without CUDA");
  }
  transport::TransportCounters counters(CommunicatorKind) const override { return {}; }
  void Abort() override {}
};

}  // namespace

std::unique_ptr<DevicePlanes> MakeDevicePlanes(
    const Topology&, std::array<transport::ControlChannel*, kNumCommunicatorKinds>, bool,
    absl::Duration) {
  return std::make_unique<NoDevicePlanes>();
}

}  // namespace hilo
