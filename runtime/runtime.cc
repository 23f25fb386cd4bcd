#include "runtime/runtime.h"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "runtime/collectives.h"
#include "runtime/common/rank_values.h"
#include "runtime/common/status_macros.h"
#include "runtime/common/usable_cpus.h"
#include "runtime/hierarchical_communicator.h"
#include "runtime/request_validator.h"
#include "runtime/timeline.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "runtime/transport/local/local_communicator.h"
#include "runtime/wire_format.h"

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
      stalls_(config.stall_warning, config.stall_shutdown, &logger_) {}

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

  absl::Status stopped_with = initialized ? RunCycles() : init_status_;
  if (!stopped_with.ok()) {
    stopped_with = NameUnreachablePeers(stopped_with);
    HILO_LOG(logger_, LogLevel::kError, "coordinator stopped: ", stopped_with.message());
    // The members of this node may be waiting for this rank in their shared-memory segment:
    // they fail now, with this reason, instead of after their own timeout.
    AbortNodeSegments(stopped_with);
  }
  for (TensorEntry& entry : queue_.Close(stopped_with)) {
    entry.operation->Complete(
        stopped_with.ok()
            ? absl::FailedPreconditionError(absl::StrCat(
                  "hilo shut down before '", entry.request.name, "' ran on the ",
                  CommunicatorKindName(entry.request.communicator), " communicator"))
            : stopped_with);
  }
  // Rounds already handed to the averaging thread finish (or fail, after an abort above) before
  // the communicators they use go. The object stays: other threads may read its counters.
  if (averaging_thread_ != nullptr) averaging_thread_->Stop();
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
  // Communicators and controllers before the session: MPI objects before MPI_Finalize. The
  // counting wrappers stay (other threads may read their counters) but are never called again.
  {
    absl::MutexLock lock(&timeline_mu_);
    timeline_.reset();  // closes the file
    timeline_on_ = false;
  }
  averager_.reset();
  // NCCL communicators outlive MPI (they no longer need it) and stay until the Runtime goes, so
  // that other threads may read their counters; after an error they are aborted, so that no
  // device work waits on a peer that is gone.
  if (device_planes_ != nullptr && !stopped_with.ok()) device_planes_->Abort();
  for (auto& plane : host_planes_) plane.reset();
  flat_host_world_plane_.reset();
  hierarchical_world_.reset();
  for (auto& controller : controllers_) controller.reset();
  for (auto& shm : shm_) shm.reset();
  round_group_shm_.reset();
  round_group_alone_.reset();
  tcp_cross_.reset();
  for (auto& communicator : communicators_) communicator.reset();
  session_.reset();
}

absl::Status Runtime::InitializeOnCoordinator() {
  HILO_ASSIGN_OR_RETURN(session_, transport::MpiSession::Create());
  mpi_threads_supported_ = session_->thread_multiple();
  logger_.set_rank(session_->world_rank());
  HILO_ASSIGN_OR_RETURN(communicators_[static_cast<int>(CommunicatorKind::kWorld)],
                        session_->World("world"));
  transport::MpiCommunicator& world = *communicators_[static_cast<int>(CommunicatorKind::kWorld)];

  // One allgather tells every rank each rank's node size (the default group is a node, which
  // needs the same number of ranks on every node) and configured group size (which must agree).
  // Settings that must be equal everywhere ride along: the fusion plan and the cache's bit
  // layout are computed independently on every rank.
  constexpr int kFields = 4;
  const int64_t mine[kFields] = {session_->local_size(), config_.group_size,
                                 config_.fusion_threshold_bytes, config_.cache_capacity};
  std::vector<int64_t> all(static_cast<size_t>(world.size()) * kFields);
  HILO_RETURN_IF_ERROR(world.Allgather(mine, kFields, all.data(),
                                       std::vector<int64_t>(world.size(), kFields),
                                       DataType::kInt64));
  int64_t min_local = all[0], max_local = all[0];
  std::vector<std::pair<std::string, int>> group_size_by_rank;
  for (int r = 0; r < world.size(); ++r) {
    min_local = std::min(min_local, all[r * kFields]);
    max_local = std::max(max_local, all[r * kFields]);
    group_size_by_rank.emplace_back(absl::StrCat(all[r * kFields + 1]), r);
  }
  const std::string group_size_disagreement = DescribeRanksByValue(group_size_by_rank);
  std::vector<int> other_settings;
  for (int r = 0; r < world.size(); ++r) {
    if (all[r * kFields + 2] != config_.fusion_threshold_bytes ||
        all[r * kFields + 3] != config_.cache_capacity) {
      other_settings.push_back(r);
    }
  }
  absl::StatusOr<Topology> topology;
  if (!other_settings.empty()) {
    topology = absl::InvalidArgumentError(absl::StrCat(
        "HILO_FUSION_THRESHOLD or HILO_CACHE_CAPACITY differ between this rank (",
        config_.fusion_threshold_bytes, ", ", config_.cache_capacity, ") and rank",
        other_settings.size() > 1 ? "s " : " ", absl::StrJoin(other_settings, ", "),
        "; set them the same everywhere"));
  } else if (group_size_disagreement.empty()) {
    topology = MakeTopology(session_->world_rank(), session_->world_size(),
                            session_->local_rank(), session_->local_size(),
                            static_cast<int>(min_local), static_cast<int>(max_local),
                            config_.group_size);
  } else {
    topology = absl::InvalidArgumentError(absl::StrCat(
        "HILO_GROUP_SIZE differs across ranks (", group_size_disagreement,
        "); set it the same everywhere, e.g. mpirun -x HILO_GROUP_SIZE"));
  }
  // Every rank must learn whether every other rank can go on: a rank that fails alone and leaves
  // would strand the others in the next collective.
  const int64_t ok_here = topology.ok() ? 1 : 0;
  std::vector<int64_t> ok_everywhere(world.size());
  HILO_RETURN_IF_ERROR(world.Allgather(&ok_here, 1, ok_everywhere.data(),
                                       std::vector<int64_t>(world.size(), 1), DataType::kInt64));
  if (!topology.ok()) return topology.status();
  std::vector<int> failed;
  for (int r = 0; r < world.size(); ++r) {
    if (ok_everywhere[r] == 0) failed.push_back(r);
  }
  if (!failed.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hilo init failed on rank(s) ", absl::StrJoin(failed, ", "), "; see their error"));
  }
  topology_ = *topology;
  for (CommunicatorKind kind : {CommunicatorKind::kGroup, CommunicatorKind::kCross}) {
    HILO_ASSIGN_OR_RETURN(communicators_[static_cast<int>(kind)],
                          session_->Split(topology_.SplitColor(kind),
                                          topology_.CommunicatorRank(kind),
                                          topology_.CommunicatorName(kind)));
  }
  // The NCCL communicators and the shared-memory segments give up on a missing peer after this
  // long instead of hanging.
  const absl::Duration peer_timeout = config_.stall_shutdown > absl::ZeroDuration()
                                          ? config_.stall_shutdown
                                          : absl::Minutes(5);
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    transport::MpiCommunicator* communicator = communicators_[static_cast<int>(kind)].get();
    if (communicator->size() != topology_.CommunicatorSize(kind) ||
        communicator->rank() != topology_.CommunicatorRank(kind)) {
      return absl::InternalError(absl::StrCat("communicator ", communicator->name(), " has rank ",
                                              communicator->rank(), " of ", communicator->size(),
                                              "; the topology says ", topology_.ToString()));
    }
    Controller& controller = *(controllers_[static_cast<int>(kind)] = std::make_unique<Controller>(
        communicator, topology_.CommunicatorName(kind), topology_.world_rank,
        config_.fusion_threshold_bytes, config_.cache_capacity));
    controller.set_stall_warning(config_.stall_warning);
    std::vector<int> member_world_ranks;
    for (int member = 0; member < communicator->size(); ++member) {
      member_world_ranks.push_back(topology_.WorldRankOf(kind, member));
    }
    controller.set_member_world_ranks(std::move(member_world_ranks));
    transport::Communicator* data = communicator;
    const bool cross = kind == CommunicatorKind::kCross;
    const bool tcp_forced =
        cross && config_.cross_transport == RuntimeConfig::CrossTransport::kTcp;
    if (config_.shm_allreduce && communicator->size() > 1 && !tcp_forced) {
      // Collective over the communicator; every member reaches the same decision. Its waits
      // give up after twice the peer timeout: a member waiting here for one that is stuck
      // behind a lost link to another node learns the cause from that member (which aborts
      // the segment naming the node, after peer_timeout) instead of timing out first, blind.
      absl::StatusOr<std::unique_ptr<transport::ShmCommunicator>> shm =
          transport::ShmCommunicator::Create(communicator, communicator,
                                             transport::ShmCommunicator::ThisNode(),
                                             2 * peer_timeout);
      if (shm.ok()) {
        data = (shm_[static_cast<int>(kind)] = *std::move(shm)).get();
      } else if (absl::IsFailedPrecondition(shm.status()) ||
                 absl::IsResourceExhausted(shm.status())) {
        HILO_LOG(logger_, LogLevel::kInfo, "allreduce over MPI: ", shm.status().message());
      } else {
        return shm.status();
      }
    }
    // Across machines the cross allreduces (every averaging round's step between groups) take
    // the TCP ring: MPI's TCP path polls, and polling ranks starve the kernel's network work
    // (runtime/transport/tcp/tcp_communicator.h). Every member reaches the same decision: the
    // shared-memory one above is rank 0's.
    if (cross && data == communicator && communicator->size() > 1 &&
        config_.cross_transport != RuntimeConfig::CrossTransport::kMpi) {
      absl::StatusOr<std::unique_ptr<transport::TcpCommunicator>> tcp =
          transport::TcpCommunicator::Create(communicator, config_.socket_interface,
                                             peer_timeout);
      if (tcp.ok()) {
        data = (tcp_cross_ = *std::move(tcp)).get();
        HILO_LOG(logger_, LogLevel::kInfo, communicator->name(), ": allreduces over the TCP ring");
      } else if (!tcp_forced && absl::IsFailedPrecondition(tcp.status())) {
        HILO_LOG(logger_, LogLevel::kWarning, communicator->name(),
                 ": allreduces over MPI, the TCP ring could not be set up: ",
                 tcp.status().message());
      } else {
        return tcp.status();
      }
    }
    counted_[static_cast<int>(kind)] = std::make_unique<transport::CountingCommunicator>(data);
  }
  cpu_kernels_ = kernels::MakeCpuKernelSet();
  host_fusion_ = kernels::MakeHostWorkspace();
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    host_planes_[static_cast<int>(kind)] = std::make_unique<DataPlane>(
        DataPlane{*counted_[static_cast<int>(kind)], *cpu_kernels_, *host_fusion_});
  }
  if (config_.hierarchical_allreduce) {
    host_shard_ = kernels::MakeHostWorkspace();
    hierarchical_world_ = std::make_unique<HierarchicalCommunicator>(
        counted_[static_cast<int>(CommunicatorKind::kWorld)].get(),
        counted_[static_cast<int>(CommunicatorKind::kGroup)].get(),
        counted_[static_cast<int>(CommunicatorKind::kCross)].get(), host_shard_.get());
    flat_host_world_plane_ = std::move(host_planes_[static_cast<int>(CommunicatorKind::kWorld)]);
    host_planes_[static_cast<int>(CommunicatorKind::kWorld)] = std::make_unique<DataPlane>(
        DataPlane{*hierarchical_world_, *cpu_kernels_, *host_fusion_});
  }
  device_planes_ = MakeDevicePlanes(
      topology_,
      {communicators_[0].get(), communicators_[1].get(), communicators_[2].get()},
      config_.hierarchical_allreduce, peer_timeout);
  averager_ = std::make_unique<CrossGroupAverager>(
      topology_, counted_[static_cast<int>(CommunicatorKind::kWorld)].get());
  // The pipelined round drives the group and cross communicators from two threads.
  averager_->set_concurrent_communicators(tcp_cross_ != nullptr || mpi_threads_supported_);
  HILO_RETURN_IF_ERROR(StartAveragingThread(2 * peer_timeout));
  control_spin_ = ChooseControlSpin(config_, topology_.local_size);
  // A negotiation that waits longer than a stalled tensor may (a node or its link is gone: MPI
  // never notices) stops the job the same way, instead of hanging it.
  for (auto& communicator : communicators_) communicator->set_control_timeout(config_.stall_shutdown);
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
           DescribeConfig(config_), " (control spin ", absl::FormatDuration(control_spin_), ")");
  return absl::OkStatus();
}

namespace {

absl::Duration IdleCycleTime(const RuntimeConfig& config, int64_t idle_cycles) {
  // After kIdleCyclesBeforeBackoff cycles with nothing in flight here, the pause doubles each
  // cycle up to kLongestIdleCycle: an idle job then costs a few negotiations per second instead
  // of a thousand. Any enqueue on this rank wakes it at once; a rank with nothing to do delays
  // the others' negotiations by at most kLongestIdleCycle, and only after it has been idle.
  constexpr int64_t kIdleCyclesBeforeBackoff = 100;
  constexpr absl::Duration kLongestIdleCycle = absl::Milliseconds(50);
  if (idle_cycles < kIdleCyclesBeforeBackoff) return config.cycle_time;
  const int64_t doublings = std::min<int64_t>(idle_cycles - kIdleCyclesBeforeBackoff, 16);
  return std::max(config.cycle_time, std::min(config.cycle_time * (int64_t{1} << doublings),
                                               kLongestIdleCycle));
}

// Completes an allgather, reducescatter or alltoall: the operation takes ownership of the result.
void CompleteWithResult(Operation& operation, absl::StatusOr<OwnedResult> result) {
  if (result.ok()) {
    if (!result->received_splits.empty()) {
      operation.set_received_splits(std::move(result->received_splits));
    }
    operation.Complete(absl::OkStatus(), std::move(result->data), std::move(result->shape));
  } else {
    operation.Complete(result.status());
  }
}

}  // namespace

void Runtime::WaitForBurstToEnd() {
  // A framework enqueues a step's tensors in a burst, and this thread wakes at the first one.
  // Negotiating at once would split the step over several cycles (each costing a world-wide
  // synchronization and a transport call), because every rank negotiates only what it has seen.
  // So wait until no tensor has arrived for kBurstQuietPeriod, for at most one cycle time.
  // Yielding, not sleeping: a sleep overshoots by tens of microseconds of timer slack, and on a
  // busy node the yield hands the CPU to the framework thread that is still enqueueing.
  constexpr absl::Duration kBurstQuietPeriod = absl::Microseconds(20);
  const absl::Time start = absl::Now();
  const absl::Time limit = start + config_.cycle_time;
  int64_t seen = queue_.additions();
  absl::Time last_arrival = start;
  while (true) {
    sched_yield();
    const absl::Time now = absl::Now();
    const int64_t additions = queue_.additions();
    if (additions != seen) {
      seen = additions;
      last_arrival = now;
    }
    if (now - last_arrival >= kBurstQuietPeriod || now >= limit) return;
  }
}

absl::Status Runtime::RunCycles() {
  // A cycle has one or two agreements (docs/protocol.md, "Cycles"):
  //  * The group agreement, a bitwise-AND allreduce over this rank's group only: the group's
  //    cache segment and one word saying whether anyone in the group wants a world cycle.
  //  * The world agreement, over all ranks, only in a world cycle: the world's segment, then one
  //    per cross communicator, then one word saying whether anyone still has world or cross work.
  //    A rank fills its own communicators' segments and all ones elsewhere, so each segment's AND
  //    is its members' alone.
  // A training step that only reduces gradients in its group therefore synchronizes only the
  // group (over its fast links), not the whole job. Every member of a group sees the same
  // decision, so a group enters world cycles together; the n-th world cycle of every rank pairs
  // up with the n-th of every other, whatever number of group cycles each group ran in between.
  // A group joins a world cycle when a member has world or cross work in flight, shuts down or
  // stops for a stall, when the previous world agreement said someone still had such work (so
  // once a world cycle has happened, every group stays in step until that work is done), and at
  // least every kWorldJoinPeriod, so that a group with nothing for the world still lets the
  // others' requests reach the world coordinator (stall reports, shutdown).
  // With a single group the group is the world: every cycle is a world cycle with one agreement.
  constexpr absl::Duration kWorldJoinPeriod = absl::Milliseconds(50);
  constexpr uint64_t kWantsWorldCycle = 1;  // group agreement's last word, inverted
  constexpr uint64_t kHasWorldWork = 1;     // world agreement's last word, inverted
  const bool separate_group_cycles = topology_.num_groups > 1;
  const int segment_words = controllers_[0]->agreement_words();
  const int world_index = static_cast<int>(CommunicatorKind::kWorld);
  const int group_index = static_cast<int>(CommunicatorKind::kGroup);
  const int cross_index = static_cast<int>(CommunicatorKind::kCross);

  // World agreement: [world | group i (single group only) | cross j ... | flags].
  std::array<size_t, kNumCommunicatorKinds> segment_offset{};
  segment_offset[world_index] = 0;
  segment_offset[group_index] = static_cast<size_t>(segment_words);
  const size_t group_segments = separate_group_cycles ? 0 : 1;
  segment_offset[cross_index] =
      static_cast<size_t>(segment_words) * (1 + group_segments + topology_.group_rank);
  std::vector<uint64_t> world_agreement(
      static_cast<size_t>(segment_words) * (1 + group_segments + topology_.group_size) + 1);
  // Group agreement: [group | flags].
  std::vector<uint64_t> group_agreement(static_cast<size_t>(segment_words) + 1);
  transport::MpiCommunicator& world = *communicators_[world_index];
  // Agreements go through the shared-memory segment where the members share a machine: a rank
  // that waits for the others sleeps until the last one arrives (shm_communicator.h).
  const auto agreement_channel = [&](int index) -> transport::ControlChannel& {
    if (shm_[index] != nullptr) return *shm_[index];
    return *communicators_[index];
  };
  transport::ControlChannel& world_channel = agreement_channel(world_index);
  transport::ControlChannel& group_channel = agreement_channel(group_index);
  const auto world_segment_of = [&](CommunicatorKind kind) {
    return absl::MakeSpan(world_agreement)
        .subspan(segment_offset[static_cast<int>(kind)], segment_words);
  };
  // Whether the current cycle reported new requests or executed a response.
  bool progressed = false;
  const auto finish = [&](CommunicatorKind kind,
                          absl::Span<const uint64_t> agreed) -> absl::StatusOr<bool> {
    const int index = static_cast<int>(kind);
    HILO_ASSIGN_OR_RETURN(proto::ResponseList responses,
                          controllers_[index]->FinishCycle(agreed));
    const CacheStats stats = controllers_[index]->cache_stats();
    cache_hits_[index].store(stats.hits, std::memory_order_relaxed);
    cache_misses_[index].store(stats.misses, std::memory_order_relaxed);
    ExecuteResponses(kind, responses);
    if (responses.responses_size() > 0) progressed = true;
    if (kind == CommunicatorKind::kWorld && responses.join_complete()) CompleteJoin(responses);
    if (kind == CommunicatorKind::kWorld && responses.shutdown()) {
      HILO_LOG(logger_, LogLevel::kInfo, "shutting down (requested by rank ",
               responses.shutdown_requested_by(), ")");
      return true;
    }
    return false;
  };

  const auto take_new_requests = [&](CommunicatorKind kind) {
    std::vector<proto::Request> requests =
        queue_.TakeNewRequests(kind, topology_.CommunicatorRank(kind), topology_.world_rank);
    if (!requests.empty()) progressed = true;
    return requests;
  };

  absl::Time next_cycle = absl::Now();
  absl::Time next_world_join = absl::Now() + kWorldJoinPeriod;
  bool others_have_world_work = false;
  int64_t idle_cycles = 0;
  // Catching up (see below): the pause before the next cycle while this rank waits for peers
  // to submit what it reported; nullopt when not catching up.
  std::optional<absl::Duration> catch_up_pause;
  while (true) {
    // Sleep until the cycle time has passed, unless work arrives first: a step that enqueues
    // tensors starts negotiating at once instead of waiting out the cycle. An idle rank still
    // wakes for its group's periodic world cycle.
    // Catching up: after a cycle that reported or resolved something but left this rank's
    // tensors waiting for a peer, the next cycle starts at once, then after pauses that double
    // from kFirstCatchUpPause up to the cycle time while nothing progresses. A peer that was one
    // cycle behind (its timer started an empty cycle just before its enqueue) is already in its
    // next cycle with the tensor, and must not wait out this rank's whole cycle time; a late
    // peer waits at most about as long as it was late. Ranks that disagree for good (a stall)
    // agree a few more times, then once per cycle time again.
    constexpr absl::Duration kFirstCatchUpPause = absl::Microseconds(50);
    absl::Time deadline = separate_group_cycles ? std::min(next_cycle, next_world_join) : next_cycle;
    if (catch_up_pause.has_value()) deadline = std::min(deadline, absl::Now() + *catch_up_pause);
    queue_.WaitForWork(deadline);
    progressed = false;
    if (queue_.size() > 0) WaitForBurstToEnd();
    idle_cycles = queue_.size() == 0 ? idle_cycles + 1 : 0;
    next_cycle = absl::Now() + IdleCycleTime(config_, idle_cycles);
    RecordCycleStart();
    // While work is in flight, control waits poll (yielding the CPU) before they sleep: a sleep
    // costs tens of microseconds of timer slack per wake-up. An idle runtime sleeps at once.
    const absl::Duration spin = idle_cycles == 0 ? control_spin_ : absl::ZeroDuration();
    for (auto& communicator : communicators_) communicator->set_control_spin(spin);
    for (auto& shm : shm_) {
      if (shm != nullptr) shm->set_spin(spin);
    }
    bool shutdown;
    {
      absl::MutexLock lock(&mu_);
      shutdown = shutdown_requested_;
      joined_this_cycle_ = join_ != nullptr;
    }
    const bool joined = joined_this_cycle_;
    // Taken before the group agreement: a rank holding any is in flight on the world or a cross
    // communicator, so it asks for (and gets) a world cycle below, where they are reported.
    std::vector<proto::Request> world_requests = take_new_requests(CommunicatorKind::kWorld);
    std::vector<proto::Request> cross_requests = take_new_requests(CommunicatorKind::kCross);
    // A joined rank keeps the world cycling: only a world cycle can tell it that all have joined.
    const bool has_world_work = queue_.size(CommunicatorKind::kWorld) > 0 ||
                                queue_.size(CommunicatorKind::kCross) > 0 || shutdown ||
                                joined || !stalls_.stop_reason().empty();

    bool world_cycle = true;
    if (separate_group_cycles) {
      std::fill(group_agreement.begin(), group_agreement.end(), ~uint64_t{0});
      controllers_[group_index]->BeginCycle(
          take_new_requests(CommunicatorKind::kGroup), shutdown,
          absl::MakeSpan(group_agreement).first(segment_words), joined);
      if (has_world_work || others_have_world_work || absl::Now() >= next_world_join) {
        group_agreement.back() &= ~kWantsWorldCycle;
      }
      HILO_RETURN_IF_ERROR(group_channel.AllreduceBitwiseAnd(absl::MakeSpan(group_agreement)));
      group_agreements_.fetch_add(1, std::memory_order_relaxed);
      HILO_RETURN_IF_ERROR(
          finish(CommunicatorKind::kGroup,
                 absl::MakeConstSpan(group_agreement).first(segment_words))
              .status());
      world_cycle = (group_agreement.back() & kWantsWorldCycle) == 0;
    }
    if (world_cycle) {
      std::fill(world_agreement.begin(), world_agreement.end(), ~uint64_t{0});
      controllers_[world_index]->BeginCycle(std::move(world_requests), shutdown,
                                            world_segment_of(CommunicatorKind::kWorld), joined);
      if (!separate_group_cycles) {
        controllers_[group_index]->BeginCycle(take_new_requests(CommunicatorKind::kGroup),
                                              shutdown,
                                              world_segment_of(CommunicatorKind::kGroup), joined);
      }
      controllers_[cross_index]->BeginCycle(std::move(cross_requests), shutdown,
                                            world_segment_of(CommunicatorKind::kCross), joined);
      if (!stalls_.stop_reason().empty()) {
        Controller::RaiseAbort(world_segment_of(CommunicatorKind::kWorld));
      }
      if (has_world_work) world_agreement.back() &= ~kHasWorldWork;
      HILO_RETURN_IF_ERROR(world_channel.AllreduceBitwiseAnd(absl::MakeSpan(world_agreement)));
      world_agreements_.fetch_add(1, std::memory_order_relaxed);
      if (Controller::AnyoneAborts(world_segment_of(CommunicatorKind::kWorld))) {
        return stalls_.StopError(world);
      }
      others_have_world_work = (world_agreement.back() & kHasWorldWork) == 0;
      next_world_join = absl::Now() + kWorldJoinPeriod;
      // The same communicator order on every rank: no rank can wait in a cross negotiation
      // while another waits in a world one.
      for (CommunicatorKind kind : kAllCommunicatorKinds) {
        if (kind == CommunicatorKind::kGroup && separate_group_cycles) continue;
        HILO_ASSIGN_OR_RETURN(const bool stop, finish(kind, world_segment_of(kind)));
        if (stop) return absl::OkStatus();
      }
    }
    const absl::Time now = absl::Now();
    if (queue_.size() == 0) {
      catch_up_pause.reset();
    } else if (progressed) {
      catch_up_pause = absl::ZeroDuration();
    } else if (catch_up_pause.has_value()) {
      catch_up_pause = *catch_up_pause == absl::ZeroDuration() ? kFirstCatchUpPause
                                                                 : *catch_up_pause * 2;
      if (*catch_up_pause >= config_.cycle_time) catch_up_pause.reset();
    }
    if (stalls_.Due(now)) {
      std::vector<StallReport> stalls;
      for (CommunicatorKind kind : kAllCommunicatorKinds) {
        for (StallReport& stall :
             controllers_[static_cast<int>(kind)]->StalledTensors(now, config_.stall_warning)) {
          stalls.push_back(std::move(stall));
        }
      }
      stalls_.Inspect(now, std::move(stalls));
    }
  }
}

void Runtime::CompleteJoin(const proto::ResponseList& responses) {
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

std::optional<TensorEntry> Runtime::JoinedStandIn(CommunicatorKind kind,
                                                  const proto::Response& response, int index,
                                                  std::deque<std::vector<char>>& zeros) const {
  if (!joined_this_cycle_ || response.device_memory()) return std::nullopt;
  if (response.type() == proto::Response::ALLGATHER && response.row_elements() > 0) {
    // No rows from this rank; it receives (and drops) the others' so that the collective runs.
    TensorEntry entry;
    entry.request.name = response.tensor_names(index);
    entry.request.collective = CollectiveType::kAllgather;
    entry.request.communicator = kind;
    entry.request.dtype = FromProto(response.dtype());
    entry.request.shape = {0, response.row_elements()};
    entry.operation = std::make_shared<Operation>(nullptr);
    entry.enqueued_at = entry.reported_at = absl::Now();
    return entry;
  }
  if (response.type() != proto::Response::ALLREDUCE || index >= response.tensor_sizes_size()) {
    return std::nullopt;
  }
  const DataType dtype = FromProto(response.dtype());
  const int64_t count = response.tensor_sizes(index);
  zeros.emplace_back(static_cast<size_t>(count) * DataTypeSize(dtype), 0);
  TensorEntry entry;
  entry.request.name = response.tensor_names(index);
  entry.request.communicator = kind;
  entry.request.reduce_op = FromProto(response.reduce_op());
  entry.request.dtype = dtype;
  entry.request.shape = {count};
  entry.request.data = zeros.back().data();
  entry.operation = std::make_shared<Operation>(nullptr);
  entry.enqueued_at = entry.reported_at = absl::Now();
  return entry;
}

void Runtime::RecordNegotiation(const TensorEntry& entry, absl::Time agreed) {
  RecordPhase(entry.request.name, "QUEUE", entry.enqueued_at, entry.reported_at);
  RecordPhase(entry.request.name, "NEGOTIATE", entry.reported_at, agreed);
}

void Runtime::RecordPhase(absl::string_view row, absl::string_view phase, absl::Time start,
                          absl::Time end, absl::string_view args_json) {
  if (!TimelineOn()) return;
  absl::MutexLock lock(&timeline_mu_);
  if (timeline_ != nullptr) timeline_->Phase(row, phase, start, end, args_json);
}

void Runtime::RecordCycleStart() {
  if (!TimelineOn()) return;
  absl::MutexLock lock(&timeline_mu_);
  if (timeline_ != nullptr && mark_cycles_) {
    timeline_->Marker("coordinator cycles", "CYCLE_START", absl::Now());
  }
}

absl::Status Runtime::StartTimeline(const std::string& path, bool mark_cycles) {
  // Rank 0's view, as Horovod's timeline: every rank executes the same responses in the same
  // order, so one rank's timeline shows the job's negotiation and transport.
  if (topology_.world_rank != 0) return absl::OkStatus();
  HILO_ASSIGN_OR_RETURN(std::unique_ptr<Timeline> timeline, Timeline::Open(path, started_at_));
  std::unique_ptr<Timeline> previous;  // closed outside the lock
  {
    absl::MutexLock lock(&timeline_mu_);
    previous = std::move(timeline_);
    timeline_ = std::move(timeline);
    mark_cycles_ = mark_cycles;
    timeline_on_ = true;
  }
  return absl::OkStatus();
}

absl::Status Runtime::StopTimeline() {
  std::unique_ptr<Timeline> stopped;
  {
    absl::MutexLock lock(&timeline_mu_);
    stopped = std::move(timeline_);
    timeline_on_ = false;
  }
  return absl::OkStatus();  // `stopped` closes the file here, before the caller reads it
}

status::StatusReply Runtime::Snapshot() const {
  status::StatusReply reply;
  status::Topology& topology = *reply.mutable_topology();
  topology.set_world_rank(topology_.world_rank);
  topology.set_world_size(topology_.world_size);
  topology.set_group_size(topology_.group_size);
  topology.set_num_groups(topology_.num_groups);
  topology.set_group(topology_.group);
  topology.set_group_rank(topology_.group_rank);
  topology.set_local_rank(topology_.local_rank);
  topology.set_local_size(topology_.local_size);
  char hostname[256] = {};
  if (gethostname(hostname, sizeof(hostname) - 1) == 0) topology.set_hostname(hostname);
  for (const auto& [name, value] : ConfigSettings(config_)) {
    status::Setting& setting = *reply.add_settings();
    setting.set_name(name);
    setting.set_value(value);
  }
  reply.set_uptime_seconds(absl::ToDoubleSeconds(absl::Now() - started_at_));
  reply.set_queue_depth(static_cast<int64_t>(queue_.size()));
  reply.set_steps(steps());
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const int index = static_cast<int>(kind);
    status::CommunicatorStatus& communicator = *reply.add_communicators();
    communicator.set_name(topology_.CommunicatorName(kind));
    communicator.set_size(topology_.CommunicatorSize(kind));
    const transport::TransportCounters counters = transport_counters(kind);
    communicator.set_operations(counters.calls);
    communicator.set_bytes(counters.bytes);
    communicator.set_busy_seconds(static_cast<double>(counters.busy_nanoseconds) * 1e-9);
    communicator.set_cache_hits(cache_hits_[index].load(std::memory_order_relaxed));
    communicator.set_cache_misses(cache_misses_[index].load(std::memory_order_relaxed));
    const AgreementCounts agreements = agreement_counts();
    communicator.set_agreements(kind == CommunicatorKind::kWorld   ? agreements.world
                                : kind == CommunicatorKind::kGroup ? agreements.group
                                                                   : 0);
  }
  absl::MutexLock lock(&mu_);
  status::AveragingStatus& averaging = *reply.mutable_averaging();
  averaging.set_rounds(averaging_rounds_);
  if (!averaging_history_.empty()) {
    const AveragingRecord& latest = averaging_history_.back();
    averaging.set_latest_discrepancy(latest.discrepancy);
    averaging.set_latest_seconds(absl::ToDoubleSeconds(latest.duration));
    averaging.set_latest_elements(latest.elements);
  }
  for (const StallReport& stall : stalls_.Current()) {
    status::Stall& entry = *reply.add_stalls();
    entry.set_communicator(stall.communicator);
    entry.set_tensor(stall.tensor);
    entry.set_waiting_seconds(absl::ToDoubleSeconds(stall.waiting));
    for (int rank : stall.submitted_by) entry.add_submitted_by(rank);
    for (int rank : stall.missing) entry.add_missing(rank);
  }
  reply.set_running(!coordinator_stopped_);
  if (coordinator_stopped_) {
    reply.set_stopped_reason(final_status_.ok() ? "shut down" : final_status_.ToString());
  }
  return reply;
}

std::vector<StallReport> Runtime::current_stalls() const { return stalls_.Current(); }

absl::StatusOr<DataPlane*> Runtime::PlaneFor(CommunicatorKind kind,
                                             absl::Span<const TensorRequest* const> requests) {
  if (requests.empty() || requests[0]->device < 0) {
    return host_planes_[static_cast<int>(kind)].get();
  }
  HILO_ASSIGN_OR_RETURN(DataPlane * plane, device_planes_->For(kind, requests[0]->device));
  // The framework's pending work on the tensors, waited for on the transport's stream.
  for (const TensorRequest* request : requests) {
    if (request->ready_event != nullptr) {
      HILO_RETURN_IF_ERROR(device_planes_->WaitForEvent(kind, request->ready_event));
    }
  }
  return plane;
}

absl::StatusOr<AveragingPlanes> Runtime::AveragingPlanesFor(const TensorRequest& request,
                                                             AveragingAlgorithm algorithm,
                                                             bool reads_parameters) {
  const bool sharded = algorithm != AveragingAlgorithm::kWorldAllreduce;
  if (request.device < 0) {
    DataPlane* world = flat_host_world_plane_ != nullptr
                           ? flat_host_world_plane_.get()
                           : host_planes_[static_cast<int>(CommunicatorKind::kWorld)].get();
    return AveragingPlanes{world, host_planes_[static_cast<int>(CommunicatorKind::kGroup)].get(),
                           host_planes_[static_cast<int>(CommunicatorKind::kCross)].get()};
  }
  AveragingPlanes planes;
  if (!reads_parameters) return planes;
  // Every rank runs this response, so every member of each communicator reaches the creation of
  // its NCCL communicator here together (device_planes.h).
  const std::vector<CommunicatorKind> kinds =
      sharded ? std::vector<CommunicatorKind>{CommunicatorKind::kGroup, CommunicatorKind::kCross}
              : std::vector<CommunicatorKind>{CommunicatorKind::kWorld};
  for (CommunicatorKind kind : kinds) {
    HILO_ASSIGN_OR_RETURN(DataPlane * plane, device_planes_->For(kind, request.device));
    (kind == CommunicatorKind::kWorld   ? planes.world
     : kind == CommunicatorKind::kGroup ? planes.group
                                        : planes.cross) = plane;
    // The framework's pending work on the parameters, waited for on each stream that reads them
    // (an event shared by consecutive parameters is waited for once).
    const void* waited = nullptr;
    for (const ParameterTensor& parameter : request.parameters) {
      if (parameter.ready_event == nullptr || parameter.ready_event == waited) continue;
      HILO_RETURN_IF_ERROR(device_planes_->WaitForEvent(kind, parameter.ready_event));
      waited = parameter.ready_event;
    }
  }
  return planes;
}

void Runtime::ExecuteResponses(CommunicatorKind kind, const proto::ResponseList& responses) {
  for (const proto::Response& response : responses.responses()) ExecuteOne(kind, response);
}

void Runtime::ExecuteFusedAllreduce(CommunicatorKind kind, const proto::Response& response) {
  WaitForAveragingThread(kind);
  std::vector<TensorEntry> entries;
  std::deque<std::vector<char>> zeros;  // a joined rank's stand-ins for tensors it never had
  for (int index = 0; index < response.tensor_names_size(); ++index) {
    const std::string& name = response.tensor_names(index);
    absl::StatusOr<TensorEntry> entry = queue_.Remove(kind, name);
    if (!entry.ok()) {
      if (std::optional<TensorEntry> stand_in = JoinedStandIn(kind, response, index, zeros)) {
        entries.push_back(*std::move(stand_in));
        continue;
      }
      HILO_LOG(logger_, LogLevel::kError, "response for unknown tensor: ", entry.status().message());
      continue;
    }
    entries.push_back(*std::move(entry));
  }
  std::vector<const TensorRequest*> requests;
  for (const TensorEntry& entry : entries) requests.push_back(&entry.request);
  FusedPhaseTimes phases;
  absl::StatusOr<DataPlane*> plane = PlaneFor(kind, requests);
  const absl::Status status =
      plane.ok() ? RunFusedAllreduce(**plane, requests, TimelineOn() ? &phases : nullptr)
                 : plane.status();
  if (TimelineOn() && status.ok()) {
    const std::string args = absl::StrCat("\"fused_tensors\": ", entries.size(), ", \"communicator\": ",
                                          JsonString(CommunicatorKindName(kind)));
    for (const TensorEntry& entry : entries) {
      RecordNegotiation(entry, phases.pack);
      RecordPhase(entry.request.name, "PACK", phases.pack, phases.transport, args);
      RecordPhase(entry.request.name, "TRANSPORT", phases.transport, phases.unpack, args);
      RecordPhase(entry.request.name, "UNPACK", phases.unpack, phases.end, args);
    }
  }
  // Last enqueued first: a framework thread usually waits for its handles in enqueue order, so
  // it then wakes once, when the first is done, instead of once per tensor (a futex wake and a
  // context switch each, which cost more than the transport for small tensors on a busy node).
  for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
    entry->operation->Complete(status);
  }
}

void Runtime::ExecuteOne(CommunicatorKind kind, const proto::Response& response) {
  if (response.type() == proto::Response::ALLREDUCE && response.tensor_names_size() > 1) {
    ExecuteFusedAllreduce(kind, response);
    return;
  }
  if (response.type() != proto::Response::ERROR) WaitForAveragingThread(kind);
  std::deque<std::vector<char>> zeros;  // a joined rank's stand-in for a tensor it never had
  for (int index = 0; index < response.tensor_names_size(); ++index) {
    const std::string& name = response.tensor_names(index);
    absl::StatusOr<TensorEntry> entry = queue_.Remove(kind, name);
    if (!entry.ok()) {
      if (std::optional<TensorEntry> stand_in = JoinedStandIn(kind, response, index, zeros)) {
        entry = *std::move(stand_in);
      }
    }
    if (!entry.ok()) {
      // An ERROR may name a tensor this rank never submitted: one it finished (shut down)
      // without, which fails on the ranks that did. Any other response names tensors this rank
      // reported, so this is a bug in hilo; the other ranks still run the collective, so say
      // loudly that this rank could not.
      if (response.type() != proto::Response::ERROR) {
        HILO_LOG(logger_, LogLevel::kError, "response for unknown tensor: ",
                 entry.status().message());
      }
      continue;
    }
    const TensorRequest& request = entry->request;
    const absl::Time started = absl::Now();
    if (TimelineOn()) RecordNegotiation(*entry, started);
    switch (response.type()) {
      case proto::Response::ERROR:
        entry->operation->Complete(response.peer_finished()
                                       ? absl::FailedPreconditionError(response.error_message())
                                       : absl::InvalidArgumentError(response.error_message()));
        break;
      case proto::Response::ALLREDUCE:
      case proto::Response::BROADCAST: {
        const TensorRequest* one = &request;
        absl::StatusOr<DataPlane*> plane = PlaneFor(kind, absl::MakeConstSpan(&one, 1));
        if (!plane.ok()) {
          entry->operation->Complete(plane.status());
        } else {
          entry->operation->Complete(response.type() == proto::Response::ALLREDUCE
                                         ? RunAllreduce(**plane, request)
                                         : RunBroadcast(**plane, request));
        }
        break;
      }
      case proto::Response::ALLGATHER: {
        CompleteWithResult(*entry->operation,
                           RunAllgather(*counted_[static_cast<int>(kind)], request,
                                        std::vector<int64_t>(response.first_dims().begin(),
                                                             response.first_dims().end())));
        break;
      }
      case proto::Response::REDUCESCATTER: {
        const TensorRequest* one = &request;
        absl::StatusOr<DataPlane*> plane = PlaneFor(kind, absl::MakeConstSpan(&one, 1));
        CompleteWithResult(*entry->operation,
                           plane.ok() ? RunReducescatter(**plane, request) : plane.status());
        break;
      }
      case proto::Response::ALLTOALL:
        CompleteWithResult(*entry->operation,
                           RunAlltoall(*counted_[static_cast<int>(kind)], request,
                                       std::vector<int64_t>(response.splits().begin(),
                                                            response.splits().end())));
        break;
      case proto::Response::AVERAGE_ACROSS_GROUPS:
        RunAveragingRound(response, *entry);
        break;
      default:
        entry->operation->Complete(absl::InternalError(
            absl::StrCat("unknown response type ", response.type(), " for '", name, "'")));
    }
    // A round records its phase when it finishes (FinishAveragingRound): it may run on the
    // averaging thread after this returns.
    if (TimelineOn() && response.type() != proto::Response::ERROR &&
        response.type() != proto::Response::AVERAGE_ACROSS_GROUPS) {
      RecordPhase(name, "TRANSPORT", started, absl::Now(),
                  absl::StrCat("\"communicator\": ", JsonString(CommunicatorKindName(kind))));
    }
  }
}

void Runtime::AbortNodeSegments(const absl::Status& reason) {
  for (auto& shm : shm_) {
    if (shm != nullptr) shm->Abort(reason);
  }
  if (round_group_shm_ != nullptr) round_group_shm_->Abort(reason);
}

absl::Status Runtime::StartAveragingThread(absl::Duration segment_timeout) {
  // A round on the thread goes through the group's second segment while the coordinator's group
  // allreduces use the first, and through the cross communicator, which the coordinator leaves
  // alone meanwhile; the coordinator meanwhile negotiates over MPI, so a cross step over MPI is
  // possible only with MPI_THREAD_MULTIPLE. Every member of a group must decide alike (a round
  // on the thread and one on the coordinator would wait in different segments): the members
  // agree with one AND over the group before creating the segment together. Groups may differ.
  if (!config_.averaging_thread || topology_.num_groups == 1) return absl::OkStatus();
  const int group_index = static_cast<int>(CommunicatorKind::kGroup);
  const int cross_index = static_cast<int>(CommunicatorKind::kCross);
  const bool cross_beside =
      tcp_cross_ != nullptr || shm_[cross_index] != nullptr || mpi_threads_supported_;
  transport::MpiCommunicator* group = communicators_[group_index].get();
  // A group of one needs no segment: its group step stays in this process.
  const bool group_beside = group->size() == 1 || shm_[group_index] != nullptr;
  std::array<uint64_t, 1> usable = {group_beside && cross_beside ? 1u : 0u};
  if (group->size() > 1) HILO_RETURN_IF_ERROR(group->AllreduceBitwiseAnd(absl::MakeSpan(usable)));
  if (usable[0] == 0) {
    HILO_LOG(logger_, LogLevel::kInfo,
             "averaging rounds run on the coordinator thread (they need a shared-memory group and "
             "a cross transport usable beside MPI: the TCP ring, shared memory or "
             "MPI_THREAD_MULTIPLE)");
    return absl::OkStatus();
  }
  transport::Communicator* round_group = nullptr;
  if (group->size() == 1) {
    round_group_alone_ = std::move(transport::LocalCommunicator::CreateGroup(1, group->name())[0]);
    round_group = round_group_alone_.get();
  } else {
    absl::StatusOr<std::unique_ptr<transport::ShmCommunicator>> shm =
        transport::ShmCommunicator::Create(group, group, transport::ShmCommunicator::ThisNode(),
                                           segment_timeout);
    if (!shm.ok()) {
      if (absl::IsFailedPrecondition(shm.status()) || absl::IsResourceExhausted(shm.status())) {
        HILO_LOG(logger_, LogLevel::kInfo, "averaging rounds run on the coordinator thread: ",
                 shm.status().message());
        return absl::OkStatus();
      }
      return shm.status();
    }
    round_group = (round_group_shm_ = *std::move(shm)).get();
  }
  averaging_thread_ = std::make_unique<AveragingThread>(round_group, counted_[cross_index].get());
  return absl::OkStatus();
}

void Runtime::WaitForAveragingThread(CommunicatorKind kind) {
  // The rounds on the averaging thread use the cross communicator, which the hierarchical world
  // allreduce uses too.
  if (averaging_thread_ == nullptr) return;
  if (kind == CommunicatorKind::kCross ||
      (kind == CommunicatorKind::kWorld && hierarchical_world_ != nullptr)) {
    averaging_thread_->WaitUntilIdle();
  }
}

absl::Status Runtime::NameUnreachablePeers(const absl::Status& status) {
  // A negotiation that timed out over MPI cannot say who is missing. When the job spans
  // machines, the TCP ring knows every other node's address: the ones that no longer answer a
  // connection attempt are the likely cause, and the error names them.
  if (!absl::IsDeadlineExceeded(status) || tcp_cross_ == nullptr) return status;
  constexpr absl::Duration kProbeTimeout = absl::Seconds(2);
  const std::vector<int> unreachable = tcp_cross_->UnreachablePeers(kProbeTimeout);
  if (unreachable.empty()) return status;
  std::vector<std::string> named;
  for (int peer : unreachable) named.push_back(tcp_cross_->DescribePeer(peer));
  return absl::DeadlineExceededError(absl::StrCat(
      status.message(), "; not answering from here: ", absl::StrJoin(named, ", "), " of ",
      tcp_cross_->name()));
}

void Runtime::RunAveragingRound(const proto::Response& response, TensorEntry& entry) {
  // One round at a time, in the negotiated order; the one before may still be on the thread.
  if (averaging_thread_ != nullptr) averaging_thread_->WaitUntilIdle();
  const AveragingAlgorithm algorithm = FromProto(response.algorithm());
  const bool check = response.check_group_consistency();
  const absl::Time start = absl::Now();
  if (averaging_thread_ == nullptr || entry.request.device >= 0 ||
      algorithm != AveragingAlgorithm::kSharded) {
    // Device rounds share their NCCL communicators with the gradients' allreduces, and the
    // world-allreduce baseline the world's transport with the negotiation: here, in order.
    absl::StatusOr<AveragingPlanes> planes =
        AveragingPlanesFor(entry.request, algorithm, averager_->ReadsParameters(check));
    FinishAveragingRound(entry, algorithm, start,
                         planes.ok() ? averager_->Run(entry.request.parameters, algorithm, check,
                                                      *planes)
                                     : planes.status());
    return;
  }
  // The consistency check's checksums travel over the world's MPI communicator, which only this
  // thread may use: checked here, before the round leaves.
  if (check) {
    const absl::Status consistent = averager_->CheckGroupConsistency(
        entry.request.parameters, *host_planes_[static_cast<int>(CommunicatorKind::kGroup)]);
    if (!consistent.ok()) {
      FinishAveragingRound(entry, algorithm, start, consistent);
      return;
    }
  }
  auto moved = std::make_shared<TensorEntry>(std::move(entry));
  averaging_thread_->Submit([this, moved, algorithm, start] {
    FinishAveragingRound(*moved, algorithm, start,
                         averager_->Run(moved->request.parameters, algorithm,
                                        /*check_group_consistency=*/false,
                                        averaging_thread_->planes()));
  });
}

void Runtime::FinishAveragingRound(TensorEntry& entry, AveragingAlgorithm algorithm,
                                   absl::Time start,
                                   const absl::StatusOr<AveragingRoundResult>& result) {
  if (TimelineOn()) {
    RecordPhase(entry.request.name, "AVERAGE_ACROSS_GROUPS", start, absl::Now(),
                absl::StrCat("\"communicator\": ",
                             JsonString(CommunicatorKindName(CommunicatorKind::kWorld))));
  }
  if (!result.ok()) {
    // A peer on another node stopped moving data (its node or link is down) or hung up: this
    // rank leaves the round, and the members of its node waiting for it in the shared-memory
    // segment must learn it now, with the reason, rather than wait out their own timeout.
    if (tcp_cross_ != nullptr &&
        (absl::IsDeadlineExceeded(result.status()) || absl::IsUnavailable(result.status()))) {
      AbortNodeSegments(result.status());
    }
    entry.operation->Complete(result.status());
    return;
  }
  AveragingRecord record;
  record.discrepancy = result->discrepancy;
  record.elements = result->elements;
  record.algorithm = algorithm;
  record.duration = absl::Now() - start;
  {
    absl::MutexLock lock(&mu_);
    record.round = ++averaging_rounds_;
    averaging_history_.push_back(record);
    if (averaging_history_.size() > kAveragingHistoryLimit) averaging_history_.pop_front();
  }
  HILO_LOG(logger_, LogLevel::kDebug, "averaging round ", record.round, " (",
           AveragingAlgorithmName(algorithm), ", ", record.elements, " elements): D = ",
           record.discrepancy, " in ", absl::FormatDuration(record.duration));
  if (TimelineOn()) {
    RecordPhase("averaging rounds", AveragingAlgorithmName(algorithm), start,
                start + record.duration,
                absl::StrCat("\"round\": ", record.round, ", \"elements\": ", record.elements,
                             ", \"discrepancy\": ", record.discrepancy));
  }
  entry.operation->set_discrepancy(result->discrepancy);
  entry.operation->Complete(absl::OkStatus());
}

transport::TransportCounters Runtime::transport_counters(CommunicatorKind kind) const {
  const int index = static_cast<int>(kind);
  if (index < 0 || index >= kNumCommunicatorKinds || counted_[index] == nullptr) return {};
  // Host (MPI) and device (NCCL) traffic together (the device planes guard their own counters).
  transport::TransportCounters total = counted_[index]->counters();
  if (device_planes_ != nullptr) total += device_planes_->counters(kind);
  if (kind == CommunicatorKind::kGroup && averaging_thread_ != nullptr) {
    total += averaging_thread_->group_counters();
  }
  return total;
}

CacheStats Runtime::cache_stats() const {
  CacheStats total;
  for (int index = 0; index < kNumCommunicatorKinds; ++index) {
    total.hits += cache_hits_[index].load(std::memory_order_relaxed);
    total.misses += cache_misses_[index].load(std::memory_order_relaxed);
  }
  return total;
}

std::vector<AveragingRecord> Runtime::averaging_history() const {
  absl::MutexLock lock(&mu_);
  return std::vector<AveragingRecord>(averaging_history_.begin(), averaging_history_.end());
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
