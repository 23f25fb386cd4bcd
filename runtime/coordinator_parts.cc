#include "runtime/coordinator_parts.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/bootstrap.h"
#include "runtime/common/status_macros.h"
#include "runtime/common/usable_cpus.h"

namespace hilo {
namespace {

// HILO_CONTROL_SPIN_US=auto: polling pays only when every rank of the node has a CPU to poll on;
// on an oversubscribed node a polling rank takes the CPU from the ranks it is waiting for.
absl::Duration ChooseControlSpin(const RuntimeConfig& config, int local_size) {
  if (config.control_spin) return *config.control_spin;
  return UsableCpus() >= local_size ? absl::Microseconds(1000) : absl::ZeroDuration();
}

}  // namespace

absl::Status CoordinatorParts::Build(const transport::SessionOpener& open_session) {
  HILO_RETURN_IF_ERROR(BuildCommunicators(open_session));
  // The NCCL communicators and the shared-memory segments give up on a missing peer after this
  // long instead of hanging.
  const RuntimeConfig& config = around_.config;
  const absl::Duration peer_timeout = config.stall_shutdown > absl::ZeroDuration()
                                          ? config.stall_shutdown
                                          : absl::Minutes(5);
  HILO_RETURN_IF_ERROR(BuildComponents(peer_timeout));
  // From here on, a negotiation that waits longer than a stalled tensor may (a node or its link
  // is gone: MPI never notices) stops the job the same way, instead of hanging it.
  for (auto& communicator : communicators_) communicator->set_control_timeout(config.stall_shutdown);
  return absl::OkStatus();
}

absl::Status CoordinatorParts::BuildCommunicators(const transport::SessionOpener& open_session) {
  HILO_ASSIGN_OR_RETURN(session_, open_session());
  transport::Session& session = *session_;
  thread_multiple_ = session.thread_multiple();
  around_.logger.set_rank(session.world_rank());
  HILO_ASSIGN_OR_RETURN(communicators_[static_cast<int>(CommunicatorKind::kWorld)],
                        session.World("world"));
  HILO_ASSIGN_OR_RETURN(
      topology_, AgreeOnTopology(*communicators_[static_cast<int>(CommunicatorKind::kWorld)],
                                 {session.world_rank(), session.world_size(),
                                  session.local_rank(), session.local_size()},
                                 around_.config));
  for (CommunicatorKind kind : {CommunicatorKind::kGroup, CommunicatorKind::kCross}) {
    HILO_ASSIGN_OR_RETURN(communicators_[static_cast<int>(kind)],
                          session.Split(topology_.SplitColor(kind),
                                        topology_.CommunicatorRank(kind),
                                        topology_.CommunicatorName(kind)));
  }
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    transport::RankCommunicator& communicator = *communicators_[static_cast<int>(kind)];
    if (communicator.size() != topology_.CommunicatorSize(kind) ||
        communicator.rank() != topology_.CommunicatorRank(kind)) {
      return absl::InternalError(absl::StrCat("communicator ", communicator.name(), " has rank ",
                                              communicator.rank(), " of ", communicator.size(),
                                              "; the topology says ", topology_.ToString()));
    }
  }
  return absl::OkStatus();
}

NegotiationChannels CoordinatorParts::BuildControllers() {
  const RuntimeConfig& config = around_.config;
  NegotiationChannels channels;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const int index = static_cast<int>(kind);
    transport::RankCommunicator* communicator = communicators_[index].get();
    Controller& controller = *(controllers_[index] = std::make_unique<Controller>(
        communicator, topology_.CommunicatorName(kind), topology_.world_rank,
        config.fusion_threshold_bytes, config.cache_capacity, around_.clock));
    controller.set_stall_warning(config.stall_warning);
    std::vector<int> member_world_ranks;
    for (int member = 0; member < communicator->size(); ++member) {
      member_world_ranks.push_back(topology_.WorldRankOf(kind, member));
    }
    controller.set_member_world_ranks(std::move(member_world_ranks));
    channels.controllers[index] = &controller;
  }
  channels.world = communicators_[static_cast<int>(CommunicatorKind::kWorld)].get();
  return channels;
}

absl::Status CoordinatorParts::BuildComponents(absl::Duration peer_timeout) {
  const RuntimeConfig& config = around_.config;
  std::array<SessionCommunicator, kNumCommunicatorKinds> session{};
  std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap{};
  for (int index = 0; index < kNumCommunicatorKinds; ++index) {
    session[index] = {communicators_[index].get(), communicators_[index].get()};
    bootstrap[index] = communicators_[index].get();
  }
  NegotiationChannels channels = BuildControllers();
  HILO_ASSIGN_OR_RETURN(host_planes_,
                        HostPlanes::Create(session,
                                           {config.shm_allreduce, config.cross_transport,
                                            config.socket_interface, peer_timeout,
                                            config.hierarchical_allreduce},
                                           around_.logger));
  device_planes_ =
      MakeDevicePlanes(topology_, bootstrap, config.hierarchical_allreduce, peer_timeout);
  HILO_ASSIGN_OR_RETURN(
      rounds_, AveragingRounds::Create(
                   topology_, *host_planes_, device_planes_.get(),
                   session[static_cast<int>(CommunicatorKind::kGroup)],
                   {config.averaging_thread, thread_multiple_, 2 * peer_timeout},
                   around_.observer, around_.logger));
  executor_ = std::make_unique<ResponseExecutor>(around_.queue, *host_planes_,
                                                 device_planes_.get(), *rounds_,
                                                 around_.observer, around_.logger);
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    channels.agreements[static_cast<int>(kind)] = &host_planes_->AgreementChannel(kind);
  }
  control_spin_ = ChooseControlSpin(config, topology_.local_size);
  scheduler_ = std::make_unique<CycleScheduler>(
      topology_, CycleScheduler::Options{config.cycle_time, control_spin_, config.stall_warning},
      around_.queue, channels, around_.stalls, around_.observer, around_.hooks, around_.logger,
      around_.clock);
  return absl::OkStatus();
}

void CoordinatorParts::AbortSegments(const absl::Status& reason) {
  if (host_planes_ != nullptr) host_planes_->AbortSegments(reason);
  if (rounds_ != nullptr) rounds_->Abort(reason);
}

void CoordinatorParts::Release(const absl::Status& stopped_with) {
  if (rounds_ != nullptr) rounds_->Close();
  if (device_planes_ != nullptr && !stopped_with.ok()) device_planes_->Abort();
  if (host_planes_ != nullptr) host_planes_->Close();
  executor_.reset();
  for (auto& controller : controllers_) controller.reset();
  for (auto& communicator : communicators_) communicator.reset();
  session_.reset();
}

}  // namespace hilo
