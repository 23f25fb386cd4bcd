#include "runtime/negotiation/cycle_scheduler.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

constexpr absl::Duration kWorldJoinPeriod = absl::Milliseconds(50);
constexpr uint64_t kWantsWorldCycle = 1;  // the group agreement's last word, inverted
constexpr uint64_t kHasWorldWork = 1;     // the world agreement's last word, inverted

}  // namespace

CycleScheduler::CycleScheduler(const Topology& topology, const Options& options,
                               TensorQueue& queue, const NegotiationChannels& channels,
                               StallInspector& stalls, ExecutionObserver& observer,
                               CycleHooks& hooks, Logger& logger, Clock& clock)
    : topology_(topology),
      options_(options),
      queue_(queue),
      channels_(channels),
      stalls_(stalls),
      observer_(observer),
      hooks_(hooks),
      logger_(logger),
      clock_(clock),
      separate_group_cycles_(topology.num_groups > 1),
      segment_words_(channels.controllers[0]->agreement_words()) {
  const size_t words = static_cast<size_t>(segment_words_);
  const size_t group_segments = separate_group_cycles_ ? 0 : 1;
  segment_offset_[static_cast<int>(CommunicatorKind::kWorld)] = 0;
  segment_offset_[static_cast<int>(CommunicatorKind::kGroup)] = words;
  segment_offset_[static_cast<int>(CommunicatorKind::kCross)] =
      words * (1 + group_segments + topology.group_rank);
  world_agreement_.resize(words * (1 + group_segments + topology.group_size) + 1);
  group_agreement_.resize(words + 1);
}

absl::Duration CycleScheduler::IdleCycleTime(absl::Duration cycle_time, int64_t idle_cycles) {
  // After kIdleCyclesBeforeBackoff cycles with nothing in flight here, the pause doubles each
  // cycle up to kLongestIdleCycle: an idle job then costs a few negotiations per second instead
  // of a thousand. Any enqueue on this rank wakes it at once; a rank with nothing to do delays
  // the others' negotiations by at most kLongestIdleCycle, and only after it has been idle.
  constexpr int64_t kIdleCyclesBeforeBackoff = 100;
  constexpr absl::Duration kLongestIdleCycle = absl::Milliseconds(50);
  if (idle_cycles < kIdleCyclesBeforeBackoff) return cycle_time;
  const int64_t doublings = std::min<int64_t>(idle_cycles - kIdleCyclesBeforeBackoff, 16);
  return std::max(cycle_time,
                  std::min(cycle_time * (int64_t{1} << doublings), kLongestIdleCycle));
}

CacheStats CycleScheduler::cache_stats(CommunicatorKind kind) const {
  const int index = static_cast<int>(kind);
  return {cache_hits_[index].load(std::memory_order_relaxed),
          cache_misses_[index].load(std::memory_order_relaxed)};
}

absl::Status CycleScheduler::Run() {
  next_cycle_ = clock_.Now();
  next_world_join_ = clock_.Now() + kWorldJoinPeriod;
  while (true) {
    WaitForNextCycle();
    HILO_ASSIGN_OR_RETURN(const bool shut_down, RunCycle());
    if (shut_down) return absl::OkStatus();
    UpdateCatchUp();
    const absl::Time now = clock_.Now();
    if (stalls_.Due(now)) InspectStalls(now);
  }
}

void CycleScheduler::WaitForNextCycle() {
  // Sleep until the cycle time has passed, unless work arrives first: a step that enqueues
  // tensors starts negotiating at once instead of waiting out the cycle. An idle rank still wakes
  // for its group's periodic world cycle.
  absl::Time deadline =
      separate_group_cycles_ ? std::min(next_cycle_, next_world_join_) : next_cycle_;
  if (catch_up_pause_.has_value()) deadline = std::min(deadline, clock_.Now() + *catch_up_pause_);
  queue_.WaitForWork(deadline);
  progressed_ = false;
  if (queue_.size() > 0) WaitForBurstToEnd();
  idle_cycles_ = queue_.size() == 0 ? idle_cycles_ + 1 : 0;
  next_cycle_ = clock_.Now() + IdleCycleTime(options_.cycle_time, idle_cycles_);
  if (observer_.Listening()) observer_.CycleStarted();
  // While work is in flight, control waits poll (yielding the CPU) before they sleep: a sleep
  // costs tens of microseconds of timer slack per wake-up. An idle runtime sleeps at once.
  hooks_.SetControlSpin(idle_cycles_ == 0 ? options_.control_spin : absl::ZeroDuration());
}

void CycleScheduler::WaitForBurstToEnd() {
  // A framework enqueues a step's tensors in a burst, and this thread wakes at the first one.
  // Negotiating at once would split the step over several cycles (each costing a world-wide
  // synchronization and a transport call), because every rank negotiates only what it has seen.
  // So wait until no tensor has arrived for kBurstQuietPeriod, for at most one cycle time: in
  // real time, not the scheduler's clock, since it watches other threads run (with a FakeClock
  // it still ends, after at most one cycle time of real time).
  // Yielding, not sleeping: a sleep overshoots by tens of microseconds of timer slack, and on a
  // busy node the yield hands the CPU to the framework thread that is still enqueueing.
  constexpr absl::Duration kBurstQuietPeriod = absl::Microseconds(20);
  const absl::Time start = absl::Now();
  const absl::Time limit = start + options_.cycle_time;
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

absl::StatusOr<bool> CycleScheduler::RunCycle() {
  const CycleHooks::RankState state = hooks_.BeginCycle();
  // Taken before the group agreement: a rank holding any is in flight on the world or a cross
  // communicator, so it asks for (and gets) a world cycle below, where they are reported.
  std::vector<proto::Request> world_requests = TakeNewRequests(CommunicatorKind::kWorld);
  std::vector<proto::Request> cross_requests = TakeNewRequests(CommunicatorKind::kCross);
  // A joined rank keeps the world cycling: only a world cycle can tell it that all have joined.
  const bool has_world_work = queue_.size(CommunicatorKind::kWorld) > 0 ||
                              queue_.size(CommunicatorKind::kCross) > 0 ||
                              state.shutdown_requested || state.joined ||
                              !stalls_.stop_reason().empty();
  bool world_cycle = true;
  if (separate_group_cycles_) {
    HILO_ASSIGN_OR_RETURN(world_cycle, AgreeInGroup(state, has_world_work));
  }
  if (!world_cycle) return false;
  return AgreeInWorld(state, has_world_work, std::move(world_requests), std::move(cross_requests));
}

absl::StatusOr<bool> CycleScheduler::AgreeInGroup(const CycleHooks::RankState& state,
                                                  bool has_world_work) {
  std::fill(group_agreement_.begin(), group_agreement_.end(), ~uint64_t{0});
  controller(CommunicatorKind::kGroup)
      .BeginCycle(TakeNewRequests(CommunicatorKind::kGroup), state.shutdown_requested,
                  absl::MakeSpan(group_agreement_).first(segment_words_), state.joined);
  if (has_world_work || others_have_world_work_ || clock_.Now() >= next_world_join_) {
    group_agreement_.back() &= ~kWantsWorldCycle;
  }
  HILO_RETURN_IF_ERROR(
      channels_.agreements[static_cast<int>(CommunicatorKind::kGroup)]->AllreduceBitwiseAnd(
          absl::MakeSpan(group_agreement_)));
  group_agreements_.fetch_add(1, std::memory_order_relaxed);
  // A group's shutdown is agreed in a world cycle: its Finish never says stop.
  HILO_RETURN_IF_ERROR(
      Finish(CommunicatorKind::kGroup, absl::MakeConstSpan(group_agreement_).first(segment_words_))
          .status());
  return (group_agreement_.back() & kWantsWorldCycle) == 0;
}

absl::StatusOr<bool> CycleScheduler::AgreeInWorld(const CycleHooks::RankState& state,
                                                  bool has_world_work,
                                                  std::vector<proto::Request> world_requests,
                                                  std::vector<proto::Request> cross_requests) {
  std::fill(world_agreement_.begin(), world_agreement_.end(), ~uint64_t{0});
  const bool shutdown = state.shutdown_requested;
  controller(CommunicatorKind::kWorld)
      .BeginCycle(std::move(world_requests), shutdown, WorldSegment(CommunicatorKind::kWorld),
                  state.joined);
  if (!separate_group_cycles_) {
    controller(CommunicatorKind::kGroup)
        .BeginCycle(TakeNewRequests(CommunicatorKind::kGroup), shutdown,
                    WorldSegment(CommunicatorKind::kGroup), state.joined);
  }
  controller(CommunicatorKind::kCross)
      .BeginCycle(std::move(cross_requests), shutdown, WorldSegment(CommunicatorKind::kCross),
                  state.joined);
  if (!stalls_.stop_reason().empty()) Controller::RaiseAbort(WorldSegment(CommunicatorKind::kWorld));
  if (has_world_work) world_agreement_.back() &= ~kHasWorldWork;
  HILO_RETURN_IF_ERROR(
      channels_.agreements[static_cast<int>(CommunicatorKind::kWorld)]->AllreduceBitwiseAnd(
          absl::MakeSpan(world_agreement_)));
  world_agreements_.fetch_add(1, std::memory_order_relaxed);
  if (Controller::AnyoneAborts(WorldSegment(CommunicatorKind::kWorld))) {
    return stalls_.StopError(*channels_.world);
  }
  others_have_world_work_ = (world_agreement_.back() & kHasWorldWork) == 0;
  next_world_join_ = clock_.Now() + kWorldJoinPeriod;
  // The same communicator order on every rank: no rank can wait in a cross negotiation while
  // another waits in a world one.
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    if (kind == CommunicatorKind::kGroup && separate_group_cycles_) continue;
    HILO_ASSIGN_OR_RETURN(const bool stop, Finish(kind, WorldSegment(kind)));
    if (stop) return true;
  }
  return false;
}

absl::StatusOr<bool> CycleScheduler::Finish(CommunicatorKind kind,
                                            absl::Span<const uint64_t> agreed) {
  const int index = static_cast<int>(kind);
  HILO_ASSIGN_OR_RETURN(proto::ResponseList responses, controller(kind).FinishCycle(agreed));
  const CacheStats stats = controller(kind).cache_stats();
  cache_hits_[index].store(stats.hits, std::memory_order_relaxed);
  cache_misses_[index].store(stats.misses, std::memory_order_relaxed);
  hooks_.Execute(kind, responses);
  if (responses.responses_size() > 0) progressed_ = true;
  if (kind == CommunicatorKind::kWorld && responses.shutdown()) {
    HILO_LOG(logger_, LogLevel::kInfo, "shutting down (requested by rank ",
             responses.shutdown_requested_by(), ")");
    return true;
  }
  return false;
}

std::vector<proto::Request> CycleScheduler::TakeNewRequests(CommunicatorKind kind) {
  std::vector<proto::Request> requests =
      queue_.TakeNewRequests(kind, topology_.CommunicatorRank(kind), topology_.world_rank);
  if (!requests.empty()) progressed_ = true;
  return requests;
}

absl::Span<uint64_t> CycleScheduler::WorldSegment(CommunicatorKind kind) {
  return absl::MakeSpan(world_agreement_)
      .subspan(segment_offset_[static_cast<int>(kind)], segment_words_);
}

void CycleScheduler::UpdateCatchUp() {
  // After a cycle that reported or resolved something but left this rank's tensors waiting for a
  // peer, the next cycle starts at once, then after pauses that double from kFirstCatchUpPause up
  // to the cycle time while nothing progresses. A peer that was one cycle behind (its timer
  // started an empty cycle just before its enqueue) is already in its next cycle with the
  // tensor, and must not wait out this rank's whole cycle time; a late peer waits at most about
  // as long as it was late. Ranks that disagree for good (a stall) agree a few more times, then
  // once per cycle time again.
  constexpr absl::Duration kFirstCatchUpPause = absl::Microseconds(50);
  if (queue_.size() == 0) {
    catch_up_pause_.reset();
  } else if (progressed_) {
    catch_up_pause_ = absl::ZeroDuration();
  } else if (catch_up_pause_.has_value()) {
    catch_up_pause_ =
        *catch_up_pause_ == absl::ZeroDuration() ? kFirstCatchUpPause : *catch_up_pause_ * 2;
    if (*catch_up_pause_ >= options_.cycle_time) catch_up_pause_.reset();
  }
}

void CycleScheduler::InspectStalls(absl::Time now) {
  std::vector<StallReport> stalls;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    for (StallReport& stall : controller(kind).StalledTensors(now, options_.stall_warning)) {
      stalls.push_back(std::move(stall));
    }
  }
  stalls_.Inspect(now, std::move(stalls));
}

}  // namespace hilo
