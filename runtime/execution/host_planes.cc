#include "runtime/execution/host_planes.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status_macros.h"
#include "runtime/transport/hierarchical_communicator.h"

namespace hilo {

absl::StatusOr<std::unique_ptr<HostPlanes>> HostPlanes::Create(
    const std::array<SessionCommunicator, kNumCommunicatorKinds>& communicators,
    const HostTransportOptions& options, Logger& logger) {
  std::unique_ptr<HostPlanes> planes(new HostPlanes());
  planes->session_ = communicators;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const int index = static_cast<int>(kind);
    HILO_ASSIGN_OR_RETURN(transport::Communicator * data,
                          planes->ChooseDataPath(kind, communicators[index], options, logger));
    planes->counted_[index] = std::make_unique<transport::CountingCommunicator>(data);
  }
  planes->cpu_kernels_ = kernels::MakeCpuKernelSet();
  planes->fusion_ = kernels::MakeHostWorkspace();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const int index = static_cast<int>(kind);
    planes->planes_[index] = std::make_unique<DataPlane>(
        DataPlane{*planes->counted_[index], *planes->cpu_kernels_, *planes->fusion_});
  }
  if (options.hierarchical_allreduce) {
    constexpr int kWorld = static_cast<int>(CommunicatorKind::kWorld);
    planes->shard_ = kernels::MakeHostWorkspace();
    planes->hierarchical_world_ = std::make_unique<HierarchicalCommunicator>(
        planes->counted_[kWorld].get(),
        planes->counted_[static_cast<int>(CommunicatorKind::kGroup)].get(),
        planes->counted_[static_cast<int>(CommunicatorKind::kCross)].get(), planes->shard_.get());
    planes->flat_world_ = std::move(planes->planes_[kWorld]);
    planes->planes_[kWorld] = std::make_unique<DataPlane>(
        DataPlane{*planes->hierarchical_world_, *planes->cpu_kernels_, *planes->fusion_});
  }
  return planes;
}

absl::StatusOr<transport::Communicator*> HostPlanes::ChooseDataPath(
    CommunicatorKind kind, const SessionCommunicator& session,
    const HostTransportOptions& options, Logger& logger) {
  const int index = static_cast<int>(kind);
  transport::Communicator* data = session.data;
  const bool cross = kind == CommunicatorKind::kCross;
  const bool tcp_forced = cross && options.cross_transport == RuntimeConfig::CrossTransport::kTcp;
  if (options.shm_allreduce && data->size() > 1 && !tcp_forced) {
    // Collective over the communicator; every member reaches the same decision. Its waits give
    // up after twice the peer timeout: a member waiting here for one that is stuck behind a lost
    // link to another node learns the cause from that member (which aborts the segment naming
    // the node, after peer_timeout) instead of timing out first, blind.
    absl::StatusOr<std::unique_ptr<transport::ShmCommunicator>> shm =
        transport::ShmCommunicator::Create(data, session.control,
                                           transport::ShmCommunicator::ThisNode(),
                                           2 * options.peer_timeout);
    if (shm.ok()) return (shm_[index] = *std::move(shm)).get();
    if (!absl::IsFailedPrecondition(shm.status()) && !absl::IsResourceExhausted(shm.status())) {
      return shm.status();
    }
    HILO_LOG(logger, LogLevel::kInfo, "allreduce over the session's transport: ",
             shm.status().message());
  }
  // Across machines the cross allreduces (every averaging round's step between groups) take the
  // TCP ring: MPI's TCP path polls, and polling ranks starve the kernel's network work
  // (runtime/transport/tcp/tcp_communicator.h). Every member reaches the same decision: the
  // shared-memory one above is rank 0's.
  if (!cross || data->size() == 1 ||
      options.cross_transport == RuntimeConfig::CrossTransport::kMpi) {
    return data;
  }
  absl::StatusOr<std::unique_ptr<transport::TcpCommunicator>> tcp =
      transport::TcpCommunicator::Create(data, options.socket_interface, options.peer_timeout);
  if (tcp.ok()) {
    HILO_LOG(logger, LogLevel::kInfo, data->name(), ": allreduces over the TCP ring");
    return (tcp_cross_ = *std::move(tcp)).get();
  }
  if (tcp_forced || !absl::IsFailedPrecondition(tcp.status())) return tcp.status();
  HILO_LOG(logger, LogLevel::kWarning, data->name(),
           ": allreduces over the session's transport, the TCP ring could not be set up: ",
           tcp.status().message());
  return data;
}

transport::ControlChannel& HostPlanes::AgreementChannel(CommunicatorKind kind) {
  const int index = static_cast<int>(kind);
  if (shm_[index] != nullptr) return *shm_[index];
  return *session_[index].control;
}

void HostPlanes::SetSpin(absl::Duration spin) {
  for (auto& shm : shm_) {
    if (shm != nullptr) shm->set_spin(spin);
  }
}

void HostPlanes::AbortSegments(const absl::Status& reason) {
  for (auto& shm : shm_) {
    if (shm != nullptr) shm->Abort(reason);
  }
}

transport::TransportCounters HostPlanes::counters(CommunicatorKind kind) const {
  const int index = static_cast<int>(kind);
  if (index < 0 || index >= kNumCommunicatorKinds || counted_[index] == nullptr) return {};
  return counted_[index]->counters();
}

absl::Status HostPlanes::NameUnreachablePeers(const absl::Status& status) {
  // A negotiation that timed out over MPI cannot say who is missing. When the job spans
  // machines, the TCP ring knows every other node's address: the ones that no longer answer a
  // connection attempt are the likely cause, and the error names them.
  if (!absl::IsDeadlineExceeded(status) || tcp_cross_ == nullptr) return status;
  constexpr absl::Duration kProbeTimeout = absl::Seconds(2);
  const std::vector<int> unreachable = tcp_cross_->UnreachablePeers(kProbeTimeout);
  if (unreachable.empty()) return status;
  std::vector<std::string> named;
  for (int peer : unreachable) named.push_back(tcp_cross_->DescribePeer(peer));
  return absl::DeadlineExceededError(absl::StrCat(status.message(), "; not answering from here: ",
                                                  absl::StrJoin(named, ", "), " of ",
                                                  tcp_cross_->name()));
}

void HostPlanes::Close() {
  for (auto& plane : planes_) plane.reset();
  flat_world_.reset();
  hierarchical_world_.reset();
  for (auto& shm : shm_) shm.reset();
  tcp_cross_.reset();
  session_ = {};
}

}  // namespace hilo
