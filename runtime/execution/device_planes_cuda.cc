// Builds with CUDA: the NCCL data plane (device_planes.h).
#include <array>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "kernels/cuda/cuda_kernel_set.h"
#include "runtime/common/status_macros.h"
#include "runtime/execution/device_planes.h"
#include "runtime/transport/hierarchical_communicator.h"
#include "runtime/transport/nccl/nccl_communicator.h"

namespace hilo {
namespace {

class NcclDevicePlanes final : public DevicePlanes {
 public:
  NcclDevicePlanes(const Topology& topology,
                   std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap,
                   bool hierarchical_allreduce, absl::Duration timeout)
      : topology_(topology), bootstrap_(bootstrap),
        hierarchical_allreduce_(hierarchical_allreduce && topology.num_groups > 1 &&
                                topology.group_size > 1),
        timeout_(timeout) {}

  ~NcclDevicePlanes() override {
    // The hierarchical decorator and its shard before the planes whose communicators it uses.
    hierarchical_plane_.reset();
    hierarchical_.reset();
    hierarchical_shard_.reset();
  }

  absl::StatusOr<DataPlane*> For(CommunicatorKind kind, int device) override {
    if (device_ >= 0 && device != device_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "CUDA tensors of one process must be on one device: hilo's NCCL communicators are on "
          "cuda:", device_, ", this tensor is on cuda:", device));
    }
    device_ = device;
    HILO_RETURN_IF_ERROR(Create(kind));
    if (kind == CommunicatorKind::kWorld && hierarchical_allreduce_) {
      if (hierarchical_ == nullptr) {
        HILO_RETURN_IF_ERROR(Create(CommunicatorKind::kGroup));
        HILO_RETURN_IF_ERROR(Create(CommunicatorKind::kCross));
        Plane& world = *planes_[Index(CommunicatorKind::kWorld)];
        hierarchical_shard_ =
            kernels::cuda::MakeCudaWorkspace(device_, world.nccl->stream());
        hierarchical_ = std::make_unique<HierarchicalCommunicator>(
            world.counted.get(), planes_[Index(CommunicatorKind::kGroup)]->counted.get(),
            planes_[Index(CommunicatorKind::kCross)]->counted.get(), hierarchical_shard_.get());
        hierarchical_plane_ = std::make_unique<DataPlane>(
            DataPlane{*hierarchical_, *world.kernels, *world.fusion});
      }
      return hierarchical_plane_.get();
    }
    return &planes_[Index(kind)]->plane;
  }

  absl::Status WaitForEvent(CommunicatorKind kind, void* cuda_event) override {
    if (planes_[Index(kind)] == nullptr) {
      return absl::InternalError("WaitForEvent before the NCCL communicator exists");
    }
    HILO_RETURN_IF_ERROR(planes_[Index(kind)]->nccl->WaitForEvent(cuda_event));
    if (kind == CommunicatorKind::kWorld && hierarchical_ != nullptr) {
      // The hierarchical steps start on the group's stream.
      HILO_RETURN_IF_ERROR(
          planes_[Index(CommunicatorKind::kGroup)]->nccl->WaitForEvent(cuda_event));
    }
    return absl::OkStatus();
  }

  transport::TransportCounters counters(CommunicatorKind kind) const override {
    absl::MutexLock lock(&planes_mu_);
    const auto& plane = planes_[Index(kind)];
    return plane == nullptr ? transport::TransportCounters{} : plane->counted->counters();
  }

  void Abort() override {
    for (auto& plane : planes_) {
      if (plane != nullptr) plane->nccl->Abort();
    }
  }

 private:
  struct Plane {
    std::unique_ptr<transport::NcclCommunicator> nccl;
    std::unique_ptr<transport::CountingCommunicator> counted;
    std::unique_ptr<kernels::KernelSet> kernels;  // on the NCCL communicator's stream
    std::unique_ptr<kernels::Workspace> fusion;
    DataPlane plane;
  };

  static int Index(CommunicatorKind kind) { return static_cast<int>(kind); }

  absl::Status Create(CommunicatorKind kind) {
    std::unique_ptr<Plane>& slot = planes_[Index(kind)];
    if (slot != nullptr) return absl::OkStatus();
    HILO_ASSIGN_OR_RETURN(std::unique_ptr<transport::NcclCommunicator> nccl,
                          transport::NcclCommunicator::Create(
                              *bootstrap_[Index(kind)], device_,
                              std::string(topology_.CommunicatorName(kind)), timeout_));
    auto counted = std::make_unique<transport::CountingCommunicator>(nccl.get());
    HILO_ASSIGN_OR_RETURN(std::unique_ptr<kernels::KernelSet> kernel_set,
                          kernels::cuda::MakeCudaKernelSet(device_, nccl->stream()));
    std::unique_ptr<kernels::Workspace> fusion =
        kernels::cuda::MakeCudaWorkspace(device_, nccl->stream());
    DataPlane plane{*counted, *kernel_set, *fusion};
    absl::MutexLock lock(&planes_mu_);
    slot.reset(new Plane{std::move(nccl), std::move(counted), std::move(kernel_set),
                         std::move(fusion), plane});
    return absl::OkStatus();
  }

  const Topology topology_;
  const std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap_;
  const bool hierarchical_allreduce_;
  const absl::Duration timeout_;
  int device_ = -1;
  // Written by the coordinator thread (which alone reads the planes' other parts); the status
  // endpoint reads the counters from other threads.
  mutable absl::Mutex planes_mu_;
  std::array<std::unique_ptr<Plane>, kNumCommunicatorKinds> planes_;
  std::unique_ptr<kernels::Workspace> hierarchical_shard_;
  std::unique_ptr<HierarchicalCommunicator> hierarchical_;
  std::unique_ptr<DataPlane> hierarchical_plane_;
};

}  // namespace

std::unique_ptr<DevicePlanes> MakeDevicePlanes(
    const Topology& topology,
    std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap,
    bool hierarchical_allreduce, absl::Duration timeout) {
  return std::make_unique<NcclDevicePlanes>(topology, bootstrap, hierarchical_allreduce, timeout);
}

}  // namespace hilo
