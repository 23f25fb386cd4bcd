// What execution reports to whoever watches it: the timeline (timeline_recorder.h) and tests.
//
// The response executor and the averaging rounds call these as work happens, on the thread that
// did it (the coordinator, or the averaging thread for a round that ran there), so the code that
// moves data does not know what is recorded or where. Listening() is read first on the hot path:
// while it is false, no timestamps are taken for the observer and none of the rest is called.
#ifndef HILO_RUNTIME_OBSERVABILITY_EXECUTION_OBSERVER_H_
#define HILO_RUNTIME_OBSERVABILITY_EXECUTION_OBSERVER_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/parameters.h"
#include "runtime/topology.h"

namespace hilo {

// When the phases of one fused allreduce started on the executing thread, and when it ended.
struct FusedPhaseTimes {
  absl::Time pack, transport, unpack, end;
};

class ExecutionObserver {
 public:
  virtual ~ExecutionObserver() = default;

  // Whether the events below are wanted now. Cheap; may change between calls.
  virtual bool Listening() const = 0;

  // The coordinator started a negotiation cycle (now: an observer that records it reads the
  // clock itself, so that a cycle costs no clock read when nobody marks cycles).
  virtual void CycleStarted() = 0;

  // Tensor `name` was enqueued at `enqueued`, reported to its coordinator at `reported` and
  // agreed by every rank at `agreed` (execution is about to start).
  virtual void Negotiated(absl::string_view name, absl::Time enqueued, absl::Time reported,
                          absl::Time agreed) = 0;

  // Tensor `name`, one of `fused_tensors` allreduced together on `kind`, went through `phases`.
  virtual void FusedAllreduceDone(absl::string_view name, CommunicatorKind kind,
                                  int fused_tensors, const FusedPhaseTimes& phases) = 0;

  // A single tensor's collective on `kind` (not an error response, not a round) ran from
  // `start` to `end`, whatever its outcome.
  virtual void TransportDone(absl::string_view name, CommunicatorKind kind, absl::Time start,
                             absl::Time end) = 0;

  // The averaging round of `name` ran from `start` to `end`; `record` is its outcome, null when
  // it failed.
  virtual void RoundDone(absl::string_view name, absl::Time start, absl::Time end,
                         const AveragingRecord* record) = 0;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_EXECUTION_OBSERVER_H_
