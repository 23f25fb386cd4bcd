// The timeline as an observer of execution: HILO_TIMELINE and Horovod's start_timeline /
// stop_timeline write what the executor and the averaging rounds report (execution_observer.h)
// into a Timeline (timeline.h).
//
// Thread-safety: Start and Stop from any thread; the events from the coordinator and the
// averaging thread. Listening() is one relaxed atomic load, so that the hot path takes no lock
// while no timeline runs.
#ifndef HILO_RUNTIME_OBSERVABILITY_TIMELINE_RECORDER_H_
#define HILO_RUNTIME_OBSERVABILITY_TIMELINE_RECORDER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/observability/timeline.h"

namespace hilo {

class TimelineRecorder final : public ExecutionObserver {
 public:
  // Events are timed relative to `origin` (the runtime's start).
  explicit TimelineRecorder(absl::Time origin) : origin_(origin) {}

  // Records into `path` (created or truncated) from now on, replacing (and closing) a timeline
  // already running; `mark_cycles` adds an instant event per coordinator cycle. An error if the
  // file cannot be created; the timeline running before then goes on.
  absl::Status Start(const std::string& path, bool mark_cycles) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the file as valid JSON before returning. A no-op when none runs.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  bool Listening() const override { return on_.load(std::memory_order_relaxed); }
  void CycleStarted() override ABSL_LOCKS_EXCLUDED(mu_);
  void Negotiated(absl::string_view name, absl::Time enqueued, absl::Time reported,
                  absl::Time agreed) override ABSL_LOCKS_EXCLUDED(mu_);
  void FusedAllreduceDone(absl::string_view name, CommunicatorKind kind, int fused_tensors,
                          const FusedPhaseTimes& phases) override ABSL_LOCKS_EXCLUDED(mu_);
  void TransportDone(absl::string_view name, CommunicatorKind kind, absl::Time start,
                     absl::Time end) override ABSL_LOCKS_EXCLUDED(mu_);
  void RoundDone(absl::string_view name, absl::Time start, absl::Time end,
                 const AveragingRecord* record) override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Phase(absl::string_view row, absl::string_view phase, absl::Time start, absl::Time end,
             absl::string_view args_json = "") ABSL_LOCKS_EXCLUDED(mu_);

  const absl::Time origin_;
  absl::Mutex mu_;
  std::unique_ptr<Timeline> timeline_ ABSL_GUARDED_BY(mu_);
  bool mark_cycles_ ABSL_GUARDED_BY(mu_) = false;
  // Mirrors timeline_ != nullptr for Listening().
  std::atomic<bool> on_{false};
};

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_TIMELINE_RECORDER_H_
