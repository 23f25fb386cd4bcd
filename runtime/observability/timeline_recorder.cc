#include "runtime/observability/timeline_recorder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

std::string CommunicatorArgs(CommunicatorKind kind) {
  return absl::StrCat("\"communicator\": ", JsonString(CommunicatorKindName(kind)));
}

}  // namespace

absl::Status TimelineRecorder::Start(const std::string& path, bool mark_cycles) {
  HILO_ASSIGN_OR_RETURN(std::unique_ptr<Timeline> timeline, Timeline::Open(path, origin_));
  std::unique_ptr<Timeline> previous;  // closed outside the lock
  absl::MutexLock lock(&mu_);
  previous = std::move(timeline_);
  timeline_ = std::move(timeline);
  mark_cycles_ = mark_cycles;
  on_ = true;
  return absl::OkStatus();
}

void TimelineRecorder::Stop() {
  std::unique_ptr<Timeline> stopped;
  {
    absl::MutexLock lock(&mu_);
    stopped = std::move(timeline_);
    on_ = false;
  }
  // `stopped` closes the file here, before the caller reads it.
}

void TimelineRecorder::Phase(absl::string_view row, absl::string_view phase, absl::Time start,
                             absl::Time end, absl::string_view args_json) {
  absl::MutexLock lock(&mu_);
  if (timeline_ != nullptr) timeline_->Phase(row, phase, start, end, args_json);
}

void TimelineRecorder::CycleStarted() {
  absl::MutexLock lock(&mu_);
  if (timeline_ != nullptr && mark_cycles_) {
    timeline_->Marker("coordinator cycles", "CYCLE_START", absl::Now());
  }
}

void TimelineRecorder::Negotiated(absl::string_view name, absl::Time enqueued,
                                  absl::Time reported, absl::Time agreed) {
  Phase(name, "QUEUE", enqueued, reported);
  Phase(name, "NEGOTIATE", reported, agreed);
}

void TimelineRecorder::FusedAllreduceDone(absl::string_view name, CommunicatorKind kind,
                                          int fused_tensors, const FusedPhaseTimes& phases) {
  const std::string args =
      absl::StrCat("\"fused_tensors\": ", fused_tensors, ", ", CommunicatorArgs(kind));
  Phase(name, "PACK", phases.pack, phases.transport, args);
  Phase(name, "TRANSPORT", phases.transport, phases.unpack, args);
  Phase(name, "UNPACK", phases.unpack, phases.end, args);
}

void TimelineRecorder::TransportDone(absl::string_view name, CommunicatorKind kind,
                                     absl::Time start, absl::Time end) {
  Phase(name, "TRANSPORT", start, end, CommunicatorArgs(kind));
}

void TimelineRecorder::RoundDone(absl::string_view name, absl::Time start, absl::Time end,
                                 const AveragingRecord* record) {
  // A round is the world's work: every rank of the job takes part.
  Phase(name, "AVERAGE_ACROSS_GROUPS", start, end, CommunicatorArgs(CommunicatorKind::kWorld));
  if (record == nullptr) return;
  Phase("averaging rounds", AveragingAlgorithmName(record->algorithm), start,
        start + record->duration,
        absl::StrCat("\"round\": ", record->round, ", \"elements\": ", record->elements,
                     ", \"discrepancy\": ", record->discrepancy));
}

}  // namespace hilo
