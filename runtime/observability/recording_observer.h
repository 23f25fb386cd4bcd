// For tests: an ExecutionObserver that keeps what it was told.
#ifndef HILO_RUNTIME_OBSERVABILITY_RECORDING_OBSERVER_H_
#define HILO_RUNTIME_OBSERVABILITY_RECORDING_OBSERVER_H_

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/observability/execution_observer.h"

namespace hilo {

class RecordingObserver final : public ExecutionObserver {
 public:
  explicit RecordingObserver(bool listening = true) : listening_(listening) {}

  bool Listening() const override { return listening_; }
  void CycleStarted() override { Add("cycle"); }
  void Negotiated(absl::string_view name, absl::Time, absl::Time, absl::Time) override {
    Add(absl::StrCat("negotiated ", name));
  }
  void FusedAllreduceDone(absl::string_view name, CommunicatorKind kind, int fused_tensors,
                          const FusedPhaseTimes&) override {
    Add(absl::StrCat("fused ", name, " of ", fused_tensors, " on ", CommunicatorKindName(kind)));
  }
  void TransportDone(absl::string_view name, CommunicatorKind kind, absl::Time,
                     absl::Time) override {
    Add(absl::StrCat("transport ", name, " on ", CommunicatorKindName(kind)));
  }
  void RoundDone(absl::string_view name, absl::Time, absl::Time,
                 const AveragingRecord* record) override {
    Add(record != nullptr ? absl::StrCat("round ", name, " #", record->round)
                          : absl::StrCat("round ", name, " failed"));
  }

  std::vector<std::string> events() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  void Add(std::string event) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  const bool listening_;
  mutable absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_RECORDING_OBSERVER_H_
