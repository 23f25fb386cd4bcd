#include "runtime/runtime_core.h"

#include <unistd.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/status_macros.h"
#include "runtime/observability/status_snapshot.h"
#include "runtime/ops/collective_op.h"
#include "runtime/request_validator.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "runtime/transport/mpi/mpi_session.h"

namespace hilo {

RuntimeCore::RuntimeCore(const RuntimeConfig& config, SessionOpener open_session, Clock& clock)
    : config_(config),
      open_session_(std::move(open_session)),
      clock_(clock),
      logger_(config.log_level),
      queue_(clock),
      stalls_(config.stall_warning, config.stall_shutdown, &logger_),
      timeline_(started_at_),
      parts_({config_, logger_, clock_, queue_, stalls_, timeline_, *this}) {}

absl::StatusOr<std::unique_ptr<RuntimeCore>> RuntimeCore::Start(const RuntimeConfig& config,
                                                        SessionOpener open_session,
                                                        Clock& clock) {
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection on: every mutex
  // (one per operation's Notification) is then registered in a global lock graph, a measurable
  // cost per tensor on hilo's hot path. It is a debugging aid that release builds of Abseil
  // disable; hilo disables it too. (It is process-wide, like Abseil's release default.)
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::unique_ptr<RuntimeCore> runtime(new RuntimeCore(config, std::move(open_session), clock));
  {
    absl::MutexLock lock(&runtime->join_mu_);
    runtime->coordinator_ = std::thread(&RuntimeCore::CoordinatorMain, runtime.get());
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

RuntimeCore::~RuntimeCore() { Shutdown().IgnoreError(); }

void RuntimeCore::CoordinatorMain() {
  init_status_ = InitializeOnCoordinator();
  const bool initialized = init_status_.ok();
  if (!initialized) {
    HILO_LOG(logger_, LogLevel::kError, "init failed: ", init_status_.message());
  }
  init_done_.Notify();
  absl::Status stopped_with = initialized ? parts_.scheduler()->Run() : init_status_;
  if (!stopped_with.ok()) {
    if (parts_.host_planes() != nullptr) {
      stopped_with = parts_.host_planes()->NameUnreachablePeers(stopped_with);
    }
    HILO_LOG(logger_, LogLevel::kError, "coordinator stopped: ", stopped_with.message());
    // The members of this node may be waiting for this rank in their shared-memory segment:
    // they fail now, with this reason, instead of after their own timeout.
    parts_.AbortSegments(stopped_with);
  }
  TearDownOnCoordinator(stopped_with);
}

void RuntimeCore::TearDownOnCoordinator(const absl::Status& stopped_with) {
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
  if (parts_.rounds() != nullptr) parts_.rounds()->Stop();
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
  parts_.Release(stopped_with);
}

absl::Status RuntimeCore::InitializeOnCoordinator() {
  HILO_RETURN_IF_ERROR(parts_.Build([this]() -> absl::StatusOr<std::unique_ptr<transport::Session>> {
    if (open_session_ != nullptr) return open_session_();
    HILO_ASSIGN_OR_RETURN(std::unique_ptr<transport::MpiSession> mpi, transport::MpiSession::Create());
    return std::unique_ptr<transport::Session>(std::move(mpi));
  }));
  topology_ = parts_.topology();
  mpi_threads_supported_ = parts_.thread_multiple();
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
           absl::FormatDuration(parts_.control_spin()), ")");
  return absl::OkStatus();
}

CycleHooks::RankState RuntimeCore::BeginCycle() {
  absl::MutexLock lock(&mu_);
  joined_this_cycle_ = join_ != nullptr;
  return {shutdown_requested_, joined_this_cycle_};
}

void RuntimeCore::SetControlSpin(absl::Duration spin) {
  for (auto& communicator : parts_.communicators()) communicator->set_control_spin(spin);
  parts_.host_planes()->SetSpin(spin);
}

void RuntimeCore::Execute(CommunicatorKind kind, const proto::ResponseList& responses) {
  parts_.executor().Execute(kind, responses, joined_this_cycle_);
  if (kind == CommunicatorKind::kWorld && responses.join_complete()) CompleteJoin(responses);
}

void RuntimeCore::CompleteJoin(const proto::ResponseList& responses) {
  std::shared_ptr<Operation> join;
  {
    absl::MutexLock lock(&mu_);
    join = std::move(join_);
    join_ = nullptr;
  }
  joined_this_cycle_ = false;
  if (join == nullptr) return;  // cannot happen: every rank, this one too, had joined
  const int last = responses.last_joined_rank();
  std::vector<char> output(sizeof(last));
  std::memcpy(output.data(), &last, sizeof(last));
  join->Complete(absl::OkStatus(), std::move(output));
}

absl::Status RuntimeCore::StartTimeline(const std::string& path, bool mark_cycles) {
  // Rank 0's view, as Horovod's timeline: every rank executes the same responses in the same
  // order, so one rank's timeline shows the job's negotiation and transport.
  if (topology_.world_rank != 0) return absl::OkStatus();
  return timeline_.Start(path, mark_cycles);
}

status::StatusReply RuntimeCore::Snapshot() const {
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
    if (parts_.scheduler() != nullptr) activity.cache = parts_.scheduler()->cache_stats(kind);
    activity.agreements = kind == CommunicatorKind::kWorld   ? agreements.world
                          : kind == CommunicatorKind::kGroup ? agreements.group
                                                             : 0;
  }
  if (parts_.rounds() != nullptr) state.averaging = parts_.rounds()->summary();
  state.stalls = stalls_.Current();
  absl::MutexLock lock(&mu_);
  state.running = !coordinator_stopped_;
  state.stopped_with = final_status_;
  return MakeStatusReply(state);
}

std::vector<StallReport> RuntimeCore::current_stalls() const { return stalls_.Current(); }

transport::TransportCounters RuntimeCore::transport_counters(CommunicatorKind kind) const {
  if (parts_.host_planes() == nullptr) return {};
  // Host and device (NCCL) traffic together, and the averaging thread's own group step.
  transport::TransportCounters total = parts_.host_planes()->counters(kind);
  if (parts_.device_planes() != nullptr) total += parts_.device_planes()->counters(kind);
  if (kind == CommunicatorKind::kGroup && parts_.rounds() != nullptr) {
    total += parts_.rounds()->group_counters();
  }
  return total;
}

CacheStats RuntimeCore::cache_stats() const {
  CacheStats total;
  if (parts_.scheduler() == nullptr) return total;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const CacheStats stats = parts_.scheduler()->cache_stats(kind);
    total.hits += stats.hits;
    total.misses += stats.misses;
  }
  return total;
}

AgreementCounts RuntimeCore::agreement_counts() const {
  return parts_.scheduler() != nullptr ? parts_.scheduler()->agreement_counts()
                                      : AgreementCounts{};
}

std::vector<AveragingRecord> RuntimeCore::averaging_history() const {
  return parts_.rounds() != nullptr ? parts_.rounds()->history() : std::vector<AveragingRecord>{};
}

absl::StatusOr<std::shared_ptr<Operation>> RuntimeCore::Enqueue(TensorRequest request) {
  HILO_RETURN_IF_ERROR(ValidateRequest(request, topology_, transport::BuiltWithCuda()));
  OpFor(request.collective).ApplyDefaults(request, topology_);
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
  HILO_RETURN_IF_ERROR(queue_.Add(TensorEntry{std::move(request), operation, clock_.Now(), {}}));
  return operation;
}

absl::StatusOr<int> RuntimeCore::Join() {
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

absl::Status RuntimeCore::Shutdown() {
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
