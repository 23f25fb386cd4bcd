// The stall inspector: what the coordinator does about tensors that some ranks of a
// communicator submitted and others have not (Horovod's stall check).
//
// At most once a second (half HILO_STALL_WARNING_SECONDS, if shorter) the coordinator hands it
// the stalled tensors its controllers see (Controller::StalledTensors: a communicator's rank 0
// sees its communicator's). It keeps them oldest first for any thread to read (the status
// endpoint, Context::CurrentStalls), logs one warning per HILO_STALL_WARNING_SECONDS listing the
// oldest ten, and once the oldest has waited HILO_STALL_SHUTDOWN_SECONDS arms the job-wide stop:
// the coordinator raises the abort flag in the next world agreement, and every rank then builds
// the same error from the reasons the inspecting ranks share (StopError).
//
// Time is passed in, so tests drive it. Thread-safety: Current() from any thread; everything
// else from the coordinator thread.
#ifndef HILO_RUNTIME_OBSERVABILITY_STALL_INSPECTOR_H_
#define HILO_RUNTIME_OBSERVABILITY_STALL_INSPECTOR_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/common/logging.h"
#include "runtime/negotiation/controller.h"
#include "runtime/transport/control_channel.h"

namespace hilo {

class StallInspector {
 public:
  // `warning`: HILO_STALL_WARNING_SECONDS; `shutdown`: HILO_STALL_SHUTDOWN_SECONDS (zero: never
  // stop). `logger` must outlive the inspector.
  StallInspector(absl::Duration warning, absl::Duration shutdown, const Logger* logger)
      : warning_(warning), shutdown_(shutdown), logger_(logger) {}

  // Whether an inspection is due at `now`; if so, schedules the next one.
  bool Due(absl::Time now);

  // What one inspection did.
  struct Outcome {
    bool warned = false;      // logged this period's warning
    bool armed_stop = false;  // the oldest stall reached the shutdown time now
  };
  // One inspection of `stalls` (every communicator's, any order) at `now`.
  Outcome Inspect(absl::Time now, std::vector<StallReport> stalls) ABSL_LOCKS_EXCLUDED(mu_);

  // The latest inspection's stalls, oldest first. Any thread.
  std::vector<StallReport> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Why this rank wants the job stopped ("" until a stall lasted the shutdown time).
  const std::string& stop_reason() const { return stop_reason_; }

  // Collective over `world`, once any rank raised the stop: the error every rank stops with
  // (DEADLINE_EXCEEDED naming each distinct stall the inspecting ranks reported: only they know
  // them), or the transport's error if sharing them failed. Never OK.
  absl::Status StopError(transport::ControlChannel& world) const;

 private:
  const absl::Duration warning_;
  const absl::Duration shutdown_;
  const Logger* const logger_;
  absl::Time next_inspection_ = absl::InfinitePast();
  absl::Time next_warning_ = absl::InfinitePast();
  std::string stop_reason_;
  mutable absl::Mutex mu_;
  std::vector<StallReport> current_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_STALL_INSPECTOR_H_
