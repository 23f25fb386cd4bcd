// The data planes for host memory, one per communicator kind, beside DevicePlanes for CUDA memory.
//
// Built once at init from the session's communicators (MPI in a job, threads-as-ranks in tests):
// each data path is the best transport its members can use — the node's shared-memory segment
// when they share a machine, the TCP ring for the cross communicator across machines
// (HILO_CROSS_TRANSPORT), else the session's own — counted (counting_communicator.h), with the
// CPU kernels and one host fusion buffer. With HILO_HIERARCHICAL_ALLREDUCE the world plane
// allreduces through group and cross (hierarchical_communicator.h); the flat one stays available
// for the averaging baseline. Agreements (negotiation's bitwise ANDs) take the segment too.
//
// Thread-safety: built and used by the coordinator thread (and the averaging thread for the cross
// communicator, see averaging_thread.h); counters() from any thread, also after Close().
#ifndef HILO_RUNTIME_EXECUTION_HOST_PLANES_H_
#define HILO_RUNTIME_EXECUTION_HOST_PLANES_H_

#include <array>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kernels/kernel_set.h"
#include "runtime/common/config.h"
#include "runtime/common/logging.h"
#include "runtime/execution/data_plane.h"
#include "runtime/topology.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/shm/shm_communicator.h"
#include "runtime/transport/tcp/tcp_communicator.h"

namespace hilo {

// One of the session's communicators: its data path and its control channel (the same object for
// MPI and for the in-process communicator).
struct SessionCommunicator {
  transport::Communicator* data = nullptr;
  transport::ControlChannel* control = nullptr;
};

struct HostTransportOptions {
  bool shm_allreduce = true;  // HILO_SHM_ALLREDUCE
  RuntimeConfig::CrossTransport cross_transport = RuntimeConfig::CrossTransport::kAuto;
  std::string socket_interface;  // HILO_SOCKET_IFNAME, for the TCP ring
  // How long a shared-memory member or a ring peer may be missing before its wait gives up.
  absl::Duration peer_timeout = absl::Minutes(5);
  bool hierarchical_allreduce = false;  // HILO_HIERARCHICAL_ALLREDUCE
};

class HostPlanes {
 public:
  // Collective over every communicator (each member reaches the same transport decisions).
  // `communicators` are indexed by CommunicatorKind and must outlive the result. A transport that
  // cannot be set up here falls back to the session's (logged), unless it was asked for by name
  // (HILO_CROSS_TRANSPORT=tcp): then its error.
  static absl::StatusOr<std::unique_ptr<HostPlanes>> Create(
      const std::array<SessionCommunicator, kNumCommunicatorKinds>& communicators,
      const HostTransportOptions& options, Logger& logger);

  HostPlanes(const HostPlanes&) = delete;
  HostPlanes& operator=(const HostPlanes&) = delete;

  // The plane a host tensor on `kind` runs on (the world's hierarchical when configured).
  DataPlane& For(CommunicatorKind kind) { return *planes_[static_cast<int>(kind)]; }
  // The world's flat plane, hierarchical or not: averaging's world-allreduce baseline.
  DataPlane& FlatWorld() { return flat_world_ != nullptr ? *flat_world_ : For(CommunicatorKind::kWorld); }
  // Whether the world plane goes through the group and cross communicators.
  bool hierarchical_world() const { return hierarchical_world_ != nullptr; }
  // `kind`'s counted data path, host memory (allgather and alltoall take it directly).
  transport::Communicator& Counted(CommunicatorKind kind) { return *counted_[static_cast<int>(kind)]; }
  // Where negotiation's agreements on `kind` go: the shared-memory segment (whose waiters sleep
  // until the last member arrives) when there is one, else the session's control channel.
  transport::ControlChannel& AgreementChannel(CommunicatorKind kind);

  // Whether `kind`'s data goes through a shared-memory segment; the TCP ring (cross only).
  bool uses_shared_memory(CommunicatorKind kind) const { return shm_[static_cast<int>(kind)] != nullptr; }
  transport::TcpCommunicator* tcp_cross() { return tcp_cross_.get(); }

  // How long the segments' waits poll before they sleep (control_spin).
  void SetSpin(absl::Duration spin);
  // This rank cannot go on: every member waiting in one of its segments fails at once with
  // `reason`.
  void AbortSegments(const absl::Status& reason);
  // `status` (why the coordinator stops), with the other nodes that no longer answer named when it
  // is a timeout and the cross communicator's ring spans machines.
  absl::Status NameUnreachablePeers(const absl::Status& status);
  // What this rank handed to `kind`'s transport; zero-valued for a bad kind.
  transport::TransportCounters counters(CommunicatorKind kind) const;

  // Releases every transport (before the session's communicators go); counters stay readable.
  // Nothing else may be called after.
  void Close();

 private:
  HostPlanes() = default;
  // `kind`'s data path: a segment, the TCP ring or the session's communicator.
  absl::StatusOr<transport::Communicator*> ChooseDataPath(CommunicatorKind kind,
                                                          const SessionCommunicator& session,
                                                          const HostTransportOptions& options,
                                                          Logger& logger);

  std::array<SessionCommunicator, kNumCommunicatorKinds> session_{};
  std::array<std::unique_ptr<transport::ShmCommunicator>, kNumCommunicatorKinds> shm_;
  std::unique_ptr<transport::TcpCommunicator> tcp_cross_;
  // Never destroyed before the HostPlanes, so that counters stay readable from other threads.
  std::array<std::unique_ptr<transport::CountingCommunicator>, kNumCommunicatorKinds> counted_;
  std::unique_ptr<kernels::KernelSet> cpu_kernels_;
  std::unique_ptr<kernels::Workspace> fusion_;
  std::unique_ptr<kernels::Workspace> shard_;
  std::unique_ptr<transport::Communicator> hierarchical_world_;
  std::array<std::unique_ptr<DataPlane>, kNumCommunicatorKinds> planes_;
  std::unique_ptr<DataPlane> flat_world_;  // set when the world's plane is hierarchical
};

}  // namespace hilo

#endif  // HILO_RUNTIME_EXECUTION_HOST_PLANES_H_
