#include "runtime/runtime.h"

#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/bootstrap.h"
#include "runtime/common/status_macros.h"
#include "runtime/common/usable_cpus.h"
#include "runtime/request_validator.h"
#include "runtime/status_snapshot.h"
#include "runtime/transport/gpu/gpu_support.h"

namespace hilo {
namespace {

// HILO_CONTROL_SPIN_US=auto: polling pays only when every rank of the node has a CPU to poll on;
// on an oversubscribed node a polling rank takes the CPU from the ranks it is waiting for.
absl::Duration ChooseControlSpin(const RuntimeConfig& config, int local_size) {
  if (config.control_spin) return *config.control_spin;
  return UsableCpus() >= local_size ? absl::Microseconds(1000) : absl::ZeroDuration();
}

}  // namespace

Runtime::Runtime(const RuntimeConfig& config)
    : config_(config),
      logger_(config.log_level),
      stalls_(config.stall_warning, config.stall_shutdown, &logger_),
      timeline_(started_at_) {}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(const RuntimeConfig& config) {
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: every mutex
  // (one per operation's Notification) is then registered in a global lock graph, a measurable
  // cost per tensor on hilo's hot path. It is a debugging aid that release builds of Abseil
  // disable; hilo disables it too. (It is process-wide, like Abseil's release default.)
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::unique_ptr<Runtime> runtime(new Runtime(config));
  {
    absl::MutexLock lock(&runtime->join_mu_);
    runtime->coordinator_ = std::thread(&Runtime::CoordinatorMain, runtime.get());
  }
  runtime->init_done_.WaitForNotification();
  if (!runtime->init_status_.ok()) {
    const absl::Status status = runtime->init_status_;
    runtime->Shutdown().IgnoreError();  // joins the thread, which has already stopped
    return status;
  }
  if (config.status_port > 0 && runtime->topology_.local_rank == 0) {
    // Monitoring must not take the job down: a rank that cannot serve says so and goes on (its
    // peers are already past init and would otherwise wait for it forever).
    absl::StatusOr<std::unique_ptr<StatusServer>> server =
        StatusServer::Start(config.status_address, config.status_port, runtime.get());
    if (server.ok()) {
      HILO_LOG(runtime->logger_, LogLevel::kInfo, "status endpoint on ", config.status_address,
               ":", (*server)->port());
      absl::MutexLock lock(&runtime->join_mu_);
      runtime->status_server_ = *std::move(server);
    } else {
      HILO_LOG(runtime->logger_, LogLevel::kError, server.status().message());
    }
  }
  return runtime;
}

Runtime::~Runtime() { Shutdown().IgnoreError(); }

void Runtime::CoordinatorMain() {
  init_status_ = InitializeOnCoordinator();
  const bool initialized = init_status_.ok();
  if (!initialized) {
    HILO_LOG(logger_, LogLevel::kError, "init failed: ", init_status_.message());
  }
  init_done_.Notify();
  absl::Status stopped_with = initialized ? scheduler_->Run() : init_status_;
  if (!stopped_with.ok()) {
    stopped_with = NameUnreachablePeers(stopped_with);
    HILO_LOG(logger_, LogLevel::kError, "coordinator stopped: ", stopped_with.message());
    // The members of this node may be waiting for this rank in their shared-memory segment:
    // they fail now, with this reason, instead of after their own timeout.
    AbortNodeSegments(stopped_with);
  }
  TearDownOnCoordinator(stopped_with);
}

void Runtime::TearDownOnCoordinator(const absl::Status& stopped_with) {
  for (TensorEntry& entry : queue_.Close(stopped_with)) {
    entry.operation->Complete(
        stopped_with.ok()
            ? absl::FailedPreconditionError(absl::StrCat(
                  "hilo shut down before '", entry.request.name, "' ran on the ",
                  CommunicatorKindName(entry.request.communicator), " communicator"))
            : stopped_with);
  }
  // Rounds already handed to the averaging thread finish (or fail, after an abort above) before
  // the communicators they use go.
  if (rounds_ != nullptr) rounds_->Stop();
  std::shared_ptr<Operation> unfinished_join;
  {
    absl::MutexLock lock(&mu_);
    final_status_ = stopped_with;
    coordinator_stopped_ = true;
    unfinished_join = std::move(join_);
    join_ = nullptr;
  }
  if (unfinished_join != nullptr) {
    unfinished_join->Complete(stopped_with.ok() ? absl::FailedPreconditionError(
                                                      "hilo shut down before every rank joined")
                                                : stopped_with);
  }
  timeline_.Stop();  // closes the file
  // Transports before the session: MPI objects before MPI_Finalize. The components stay (other
  // threads may read their counters) but are never called again. NCCL communicators outlive MPI
  // (they no longer need it); after an error they are aborted, so that no device work waits on a
  // peer that is gone.
  if (rounds_ != nullptr) rounds_->Close();
  if (device_planes_ != nullptr && !stopped_with.ok()) device_planes_->Abort();
  if (host_planes_ != nullptr) host_planes_->Close();
  CoordinatorState& state = coordinator_state_;
  state.executor.reset();
  for (auto& controller : state.controllers) controller.reset();
  for (auto& communicator : state.communicators) communicator.reset();
  state.session.reset();
}

absl::Status Runtime::InitializeOnCoordinator() {
  HILO_RETURN_IF_ERROR(BuildCommunicators());
  // The NCCL communicators and the shared-memory segments give up on a missing peer after this
  // long instead of hanging.
  const absl::Duration peer_timeout = config_.stall_shutdown > absl::ZeroDuration()
                                          ? config_.stall_shutdown
                                          : absl::Minutes(5);
  HILO_RETURN_IF_ERROR(BuildComponents(peer_timeout));
  if (!config_.timeline_path.empty()) {
    const absl::Status started = StartTimeline(config_.timeline_path, /*mark_cycles=*/false);
    if (!started.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("HILO_TIMELINE: ", started.message()));
    }
  }
  if (topology_.world_rank == 0) {  // the same environment everywhere: say it once
    for (const std::string& line : IgnoredHorovodSettingsInEnvironment()) {
      HILO_LOG(logger_, LogLevel::kWarning, line);
    }
  }
  HILO_LOG(logger_, LogLevel::kInfo, "started: ", topology_.ToString(), "; ",
           DescribeConfig(config_), " (control spin ",
           absl::FormatDuration(coordinator_state_.control_spin), ")");
  return absl::OkStatus();
}

absl::Status Runtime::BuildCommunicators() {
  CoordinatorState& state = coordinator_state_;
  HILO_ASSIGN_OR_RETURN(state.session, transport::MpiSession::Create());
  transport::MpiSession& session = *state.session;
  mpi_threads_supported_ = session.thread_multiple();
  logger_.set_rank(session.world_rank());
  auto& communicators = state.communicators;
  HILO_ASSIGN_OR_RETURN(communicators[static_cast<int>(CommunicatorKind::kWorld)],
                        session.World("world"));
  HILO_ASSIGN_OR_RETURN(
      topology_, AgreeOnTopology(*communicators[static_cast<int>(CommunicatorKind::kWorld)],
                                 {session.world_rank(), session.world_size(),
                                  session.local_rank(), session.local_size()},
                                 config_));
  for (CommunicatorKind kind : {CommunicatorKind::kGroup, CommunicatorKind::kCross}) {
    HILO_ASSIGN_OR_RETURN(communicators[static_cast<int>(kind)],
                          session.Split(topology_.SplitColor(kind),
                                        topology_.CommunicatorRank(kind),
                                        topology_.CommunicatorName(kind)));
  }
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    transport::MpiCommunicator& communicator = *communicators[static_cast<int>(kind)];
    if (communicator.size() != topology_.CommunicatorSize(kind) ||
        communicator.rank() != topology_.CommunicatorRank(kind)) {
      return absl::InternalError(absl::StrCat("communicator ", communicator.name(), " has rank ",
                                              communicator.rank(), " of ", communicator.size(),
                                              "; the topology says ", topology_.ToString()));
    }
  }
  return absl::OkStatus();
}

absl::Status Runtime::BuildComponents(absl::Duration peer_timeout) {
  CoordinatorState& state = coordinator_state_;
  std::array<SessionCommunicator, kNumCommunicatorKinds> session{};
  std::array<transport::ControlChannel*, kNumCommunicatorKinds> bootstrap{};
  NegotiationChannels channels;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const int index = static_cast<int>(kind);
    transport::MpiCommunicator* communicator = state.communicators[index].get();
    session[index] = {communicator, communicator};
    bootstrap[index] = communicator;
    Controller& controller = *(state.controllers[index] = std::make_unique<Controller>(
        communicator, topology_.CommunicatorName(kind), topology_.world_rank,
        config_.fusion_threshold_bytes, config_.cache_capacity));
    controller.set_stall_warning(config_.stall_warning);
    std::vector<int> member_world_ranks;
    for (int member = 0; member < communicator->size(); ++member) {
      member_world_ranks.push_back(topology_.WorldRankOf(kind, member));
    }
    controller.set_member_world_ranks(std::move(member_world_ranks));
    channels.controllers[index] = &controller;
  }
  HILO_ASSIGN_OR_RETURN(host_planes_,
                        HostPlanes::Create(session,
                                           {config_.shm_allreduce, config_.cross_transport,
                                            config_.socket_interface, peer_timeout,
                                            config_.hierarchical_allreduce},
                                           logger_));
  device_planes_ =
      MakeDevicePlanes(topology_, bootstrap, config_.hierarchical_allreduce, peer_timeout);
  HILO_ASSIGN_OR_RETURN(
      rounds_, AveragingRounds::Create(topology_, *host_planes_, device_planes_.get(),
                                       session[static_cast<int>(CommunicatorKind::kGroup)],
                                       {config_.averaging_thread, mpi_threads_supported_,
                                        2 * peer_timeout},
                                       timeline_, logger_));
  state.executor = std::make_unique<ResponseExecutor>(queue_, *host_planes_, device_planes_.get(),
                                                      *rounds_, timeline_, logger_);
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    channels.agreements[static_cast<int>(kind)] = &host_planes_->AgreementChannel(kind);
  }
  channels.world = state.communicators[static_cast<int>(CommunicatorKind::kWorld)].get();
  state.control_spin = ChooseControlSpin(config_, topology_.local_size);
  scheduler_ = std::make_unique<CycleScheduler>(
      topology_,
      CycleScheduler::Options{config_.cycle_time, state.control_spin, config_.stall_warning},
      queue_, channels, stalls_, timeline_, static_cast<CycleHooks&>(*this), logger_);
  // From here on, a negotiation that waits longer than a stalled tensor may (a node or its link
  // is gone: MPI never notices) stops the job the same way, instead of hanging it.
  for (auto& communicator : state.communicators) {
    communicator->set_control_timeout(config_.stall_shutdown);
  }
  return absl::OkStatus();
}

CycleHooks::RankState Runtime::BeginCycle() {
  absl::MutexLock lock(&mu_);
  coordinator_state_.joined_this_cycle = join_ != nullptr;
  return {shutdown_requested_, coordinator_state_.joined_this_cycle};
}

void Runtime::SetControlSpin(absl::Duration spin) {
  for (auto& communicator : coordinator_state_.communicators) communicator->set_control_spin(spin);
  host_planes_->SetSpin(spin);
}

void Runtime::Execute(CommunicatorKind kind, const proto::ResponseList& responses) {
  coordinator_state_.executor->Execute(kind, responses, coordinator_state_.joined_this_cycle);
  if (kind == CommunicatorKind::kWorld && responses.join_complete()) CompleteJoin(responses);
}

void Runtime::CompleteJoin(const proto::ResponseList& responses) {
  std::shared_ptr<Operation> join;
  {
    absl::MutexLock lock(&mu_);
    join = std::move(join_);
    join_ = nullptr;
  }
  coordinator_state_.joined_this_cycle = false;
  if (join == nullptr) return;  // cannot happen: every rank, this one too, had joined
  const int last = responses.last_joined_rank();
  std::vector<char> output(sizeof(last));
  std::memcpy(output.data(), &last, sizeof(last));
  join->Complete(absl::OkStatus(), std::move(output));
}

void Runtime::AbortNodeSegments(const absl::Status& reason) {
  if (host_planes_ != nullptr) host_planes_->AbortSegments(reason);
  if (rounds_ != nullptr) rounds_->Abort(reason);
}

absl::Status Runtime::NameUnreachablePeers(const absl::Status& status) {
  // A negotiation that timed out over MPI cannot say who is missing. When the job spans
  // machines, the TCP ring knows every other node's address: the ones that no longer answer a
  // connection attempt are the likely cause, and the error names them.
  transport::TcpCommunicator* ring = host_planes_ != nullptr ? host_planes_->tcp_cross() : nullptr;
  if (!absl::IsDeadlineExceeded(status) || ring == nullptr) return status;
  constexpr absl::Duration kProbeTimeout = absl::Seconds(2);
  const std::vector<int> unreachable = ring->UnreachablePeers(kProbeTimeout);
  if (unreachable.empty()) return status;
  std::vector<std::string> named;
  for (int peer : unreachable) named.push_back(ring->DescribePeer(peer));
  return absl::DeadlineExceededError(absl::StrCat(status.message(), "; not answering from here: ",
                                                  absl::StrJoin(named, ", "), " of ",
                                                  ring->name()));
}

absl::Status Runtime::StartTimeline(const std::string& path, bool mark_cycles) {
  // Rank 0's view, as Horovod's timeline: every rank executes the same responses in the same
  // order, so one rank's timeline shows the job's negotiation and transport.
  if (topology_.world_rank != 0) return absl::OkStatus();
  return timeline_.Start(path, mark_cycles);
}

absl::Status Runtime::StopTimeline() {
  timeline_.Stop();
  return absl::OkStatus();
}

status::StatusReply Runtime::Snapshot() const {
  RuntimeState state;
  state.topology = topology_;
  state.config = config_;
  char hostname[256] = {};
  if (gethostname(hostname, sizeof(hostname) - 1) == 0) state.hostname = hostname;
  state.uptime = absl::Now() - started_at_;
  state.queue_depth = static_cast<int64_t>(queue_.size());
  state.steps = steps();
  const AgreementCounts agreements = agreement_counts();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    CommunicatorActivity& activity = state.communicators[static_cast<int>(kind)];
    activity.transport = transport_counters(kind);
    if (scheduler_ != nullptr) activity.cache = scheduler_->cache_stats(kind);
    activity.agreements = kind == CommunicatorKind::kWorld   ? agreements.world
                          : kind == CommunicatorKind::kGroup ? agreements.group
                                                             : 0;
  }
  if (rounds_ != nullptr) state.averaging = rounds_->summary();
  state.stalls = stalls_.Current();
  absl::MutexLock lock(&mu_);
  state.running = !coordinator_stopped_;
  state.stopped_with = final_status_;
  return MakeStatusReply(state);
}

std::vector<StallReport> Runtime::current_stalls() const { return stalls_.Current(); }

transport::TransportCounters Runtime::transport_counters(CommunicatorKind kind) const {
  if (host_planes_ == nullptr) return {};
  // Host and device (NCCL) traffic together, and the averaging thread's own group step.
  transport::TransportCounters total = host_planes_->counters(kind);
  if (device_planes_ != nullptr) total += device_planes_->counters(kind);
  if (kind == CommunicatorKind::kGroup && rounds_ != nullptr) total += rounds_->group_counters();
  return total;
}

CacheStats Runtime::cache_stats() const {
  CacheStats total;
  if (scheduler_ == nullptr) return total;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const CacheStats stats = scheduler_->cache_stats(kind);
    total.hits += stats.hits;
    total.misses += stats.misses;
  }
  return total;
}

AgreementCounts Runtime::agreement_counts() const {
  return scheduler_ != nullptr ? scheduler_->agreement_counts() : AgreementCounts{};
}

std::vector<AveragingRecord> Runtime::averaging_history() const {
  return rounds_ != nullptr ? rounds_->history() : std::vector<AveragingRecord>{};
}

absl::StatusOr<std::shared_ptr<Operation>> Runtime::Enqueue(TensorRequest request) {
  HILO_RETURN_IF_ERROR(ValidateRequest(request, topology_, transport::BuiltWithCuda()));
  if (request.collective == CollectiveType::kAlltoall && request.splits.empty()) {
    // Horovod's default: the first dimension evenly over the ranks (ValidateRequest checked
    // that it divides).
    const int size = topology_.CommunicatorSize(request.communicator);
    request.splits.assign(size, request.shape[0] / size);
  }
  auto operation = std::make_shared<Operation>(std::move(request.callback));
  request.callback = nullptr;
  // A rank that asked to shut down has finished: the coordinators fail what other ranks wait
  // for from it (ReadinessTable::TakeUnsatisfiable), so it must not submit anything after. Under
  // mu_, so that the coordinator, which reads the request before taking new tensors, has
  // either seen this tensor or refused it.
  absl::MutexLock lock(&mu_);
  if (shutdown_requested_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", request.name, "': hilo is shutting down on this rank; no new collectives"));
  }
  HILO_RETURN_IF_ERROR(queue_.Add(TensorEntry{std::move(request), operation, absl::Now(), {}}));
  return operation;
}

absl::StatusOr<int> Runtime::Join() {
  std::shared_ptr<Operation> join;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_requested_ || coordinator_stopped_) {
      return absl::FailedPreconditionError("join: hilo is shutting down on this rank");
    }
    if (join_ != nullptr) {
      return absl::FailedPreconditionError("join: this rank is already joining (from another "
                                           "thread)");
    }
    join_ = std::make_shared<Operation>(nullptr);
    join = join_;
  }
  queue_.Wake();
  join->WaitFor(absl::InfiniteDuration());
  HILO_RETURN_IF_ERROR(join->status());
  int last = -1;
  if (join->output().size() == sizeof(last)) std::memcpy(&last, join->output().data(), sizeof(last));
  return last;
}

absl::Status Runtime::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_requested_ = true;
  }
  queue_.Wake();
  {
    absl::MutexLock lock(&join_mu_);
    if (coordinator_.joinable()) coordinator_.join();
    status_server_.reset();
  }
  absl::MutexLock lock(&mu_);
  return final_status_;
}

}  // namespace hilo
