// The coordinator's negotiation cycles: when a cycle starts, which agreements it takes, and what
// is done with what they agreed on.
//
// A cycle has one or two agreements (docs/protocol.md, "Cycles"):
//  * The group agreement, a bitwise-AND allreduce over this rank's group only: the group's cache
//    segment and one word saying whether anyone in the group wants a world cycle.
//  * The world agreement, over all ranks, only in a world cycle: the world's segment, then one
//    per cross communicator, then one word saying whether anyone still has world or cross work.
//    A rank fills its own communicators' segments and all ones elsewhere, so each segment's AND
//    is its members' alone.
// A training step that only reduces gradients in its group therefore synchronizes only the group
// (over its fast links), not the whole job. Every member of a group sees the same decision, so a
// group enters world cycles together; the n-th world cycle of every rank pairs up with the n-th
// of every other, whatever number of group cycles each group ran in between. A group joins a
// world cycle when a member has world or cross work in flight, shuts down or stops for a stall,
// when the previous world agreement said someone still had such work (so once a world cycle has
// happened, every group stays in step until that work is done), and at least every
// kWorldJoinPeriod, so that a group with nothing for the world still lets the others' requests
// reach the world coordinator (stall reports, shutdown). With a single group the group is the
// world: every cycle is a world cycle with one agreement.
//
// Pacing: a cycle starts when work arrives (after the burst of a step's enqueues has paused), or
// when the cycle time has passed; idle ranks back off; a rank whose reported tensors wait for a
// late peer catches up quickly (see RunCycle). Every time that decides a cycle is the Clock's
// (tests drive a FakeClock); only the burst's pause is measured in real time, since it watches
// framework threads enqueue (WaitForBurstToEnd).
//
// Thread-safety: Run on the coordinator thread; the counters from any thread.
#ifndef HILO_RUNTIME_NEGOTIATION_CYCLE_SCHEDULER_H_
#define HILO_RUNTIME_NEGOTIATION_CYCLE_SCHEDULER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/negotiation.pb.h"
#include "runtime/common/clock.h"
#include "runtime/common/logging.h"
#include "runtime/negotiation/controller.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/observability/runtime_stats.h"
#include "runtime/observability/stall_inspector.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/topology.h"
#include "runtime/transport/control_channel.h"

namespace hilo {

// What the scheduler needs from the runtime that owns it, each cycle.
class CycleHooks {
 public:
  // This rank's state at a cycle's start.
  struct RankState {
    bool shutdown_requested = false;
    bool joined = false;
  };

  virtual ~CycleHooks() = default;
  virtual RankState BeginCycle() = 0;
  // Control waits poll this long before they sleep (zero while the rank is idle).
  virtual void SetControlSpin(absl::Duration spin) = 0;
  // Runs what `kind`'s negotiation agreed on, in order (and ends a join the list completes).
  virtual void Execute(CommunicatorKind kind, const proto::ResponseList& responses) = 0;
};

// The communicators a scheduler negotiates over, indexed by CommunicatorKind.
struct NegotiationChannels {
  std::array<Controller*, kNumCommunicatorKinds> controllers{};
  // Where each kind's agreements go (a shared-memory segment, else the session's channel).
  std::array<transport::ControlChannel*, kNumCommunicatorKinds> agreements{};
  // The session's world channel (a stall stop shares its reports there).
  transport::ControlChannel* world = nullptr;
};

class CycleScheduler {
 public:
  struct Options {
    absl::Duration cycle_time = absl::Milliseconds(1);  // HILO_CYCLE_TIME_MS
    absl::Duration control_spin;  // while work is in flight (HILO_CONTROL_SPIN_US, resolved)
    absl::Duration stall_warning = absl::Seconds(60);
  };

  // Everything passed must outlive the scheduler. `clock` paces the cycles and times the stall
  // inspections (the queue's WaitForWork waits on the queue's clock: the same one).
  CycleScheduler(const Topology& topology, const Options& options, TensorQueue& queue,
                 const NegotiationChannels& channels, StallInspector& stalls,
                 ExecutionObserver& observer, CycleHooks& hooks, Logger& logger,
                 Clock& clock = Clock::System());

  // Runs cycles until every rank has agreed to shut down (OK), a stall stopped the job, or a
  // transport failed (their errors).
  absl::Status Run();

  AgreementCounts agreement_counts() const {
    return {world_agreements_.load(std::memory_order_relaxed),
            group_agreements_.load(std::memory_order_relaxed)};
  }
  // Response-cache hits and misses on `kind`, as of the last negotiation.
  CacheStats cache_stats(CommunicatorKind kind) const;

  // The pause between cycles with nothing in flight after `idle_cycles` such cycles.
  static absl::Duration IdleCycleTime(absl::Duration cycle_time, int64_t idle_cycles);

 private:
  // Sleeps until the next cycle is due or work arrives; then lets a burst of enqueues end.
  void WaitForNextCycle();
  void WaitForBurstToEnd();
  // One cycle; true once shutdown was agreed.
  absl::StatusOr<bool> RunCycle();
  // The group agreement; whether this cycle is a world cycle.
  absl::StatusOr<bool> AgreeInGroup(const CycleHooks::RankState& state, bool has_world_work);
  absl::StatusOr<bool> AgreeInWorld(const CycleHooks::RankState& state, bool has_world_work,
                                    std::vector<proto::Request> world_requests,
                                    std::vector<proto::Request> cross_requests);
  // Ends `kind`'s negotiation with `agreed` and executes its responses; true on shutdown.
  absl::StatusOr<bool> Finish(CommunicatorKind kind, absl::Span<const uint64_t> agreed);
  std::vector<proto::Request> TakeNewRequests(CommunicatorKind kind);
  absl::Span<uint64_t> WorldSegment(CommunicatorKind kind);
  void UpdateCatchUp();
  void InspectStalls(absl::Time now);
  Controller& controller(CommunicatorKind kind) {
    return *channels_.controllers[static_cast<int>(kind)];
  }

  const Topology topology_;
  const Options options_;
  TensorQueue& queue_;
  const NegotiationChannels channels_;
  StallInspector& stalls_;
  ExecutionObserver& observer_;
  CycleHooks& hooks_;
  Logger& logger_;
  Clock& clock_;
  const bool separate_group_cycles_;
  const int segment_words_;

  // Agreement buffers. World: [world | group (single group only) | cross j ... | flags];
  // group: [group | flags].
  std::array<size_t, kNumCommunicatorKinds> segment_offset_{};
  std::vector<uint64_t> world_agreement_;
  std::vector<uint64_t> group_agreement_;

  // Pacing state, from one cycle to the next.
  absl::Time next_cycle_;
  absl::Time next_world_join_;
  bool others_have_world_work_ = false;
  int64_t idle_cycles_ = 0;
  // Whether the current cycle reported new requests or executed a response.
  bool progressed_ = false;
  // Catching up: the pause before the next cycle while this rank waits for peers to submit what
  // it reported; nullopt when not catching up.
  std::optional<absl::Duration> catch_up_pause_;

  std::atomic<int64_t> world_agreements_{0};
  std::atomic<int64_t> group_agreements_{0};
  // Copied from the controllers after every negotiation: they go with the coordinator thread.
  std::array<std::atomic<int64_t>, kNumCommunicatorKinds> cache_hits_{};
  std::array<std::atomic<int64_t>, kNumCommunicatorKinds> cache_misses_{};
};

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_CYCLE_SCHEDULER_H_
