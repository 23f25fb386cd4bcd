#include "runtime/observability/stall_inspector.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status_macros.h"

namespace hilo {

bool StallInspector::Due(absl::Time now) {
  if (now < next_inspection_) return false;
  next_inspection_ = now + std::min(absl::Seconds(1), warning_ / 2);
  return true;
}

StallInspector::Outcome StallInspector::Inspect(absl::Time now, std::vector<StallReport> stalls) {
  Outcome outcome;
  // Oldest first across communicators (each controller's list is already): the warning order,
  // Current()'s promise, and the stall that decides the stop below.
  std::stable_sort(stalls.begin(), stalls.end(), [](const StallReport& a, const StallReport& b) {
    return a.waiting > b.waiting;
  });
  {
    absl::MutexLock lock(&mu_);
    current_ = stalls;
  }
  if (stalls.empty()) return outcome;
  if (now >= next_warning_) {
    next_warning_ = now + warning_;
    outcome.warned = true;
    constexpr size_t kMostListed = 10;
    for (size_t i = 0; i < stalls.size() && i < kMostListed; ++i) {
      HILO_LOG(*logger_, LogLevel::kWarning, "stalled: ", DescribeStall(stalls[i]),
               " (HILO_STALL_WARNING_SECONDS=", absl::ToDoubleSeconds(warning_), ")");
    }
    if (stalls.size() > kMostListed) {
      HILO_LOG(*logger_, LogLevel::kWarning, "stalled: and ", stalls.size() - kMostListed,
               " more tensors");
    }
  }
  if (shutdown_ > absl::ZeroDuration() && stop_reason_.empty() &&
      stalls.front().waiting >= shutdown_) {
    // The oldest stall decides; every rank learns it next cycle (StopError).
    stop_reason_ = DescribeStall(stalls.front());
    outcome.armed_stop = true;
    HILO_LOG(*logger_, LogLevel::kError, "stopping the job: ", stop_reason_,
             " (HILO_STALL_SHUTDOWN_SECONDS=", absl::ToDoubleSeconds(shutdown_), ")");
  }
  return outcome;
}

std::vector<StallReport> StallInspector::Current() const {
  absl::MutexLock lock(&mu_);
  return current_;
}

absl::Status StallInspector::StopError(transport::ControlChannel& world) const {
  HILO_ASSIGN_OR_RETURN(std::vector<std::string> reasons, world.GatherToRoot(stop_reason_));
  std::string joined;
  if (world.rank() == 0) {
    std::vector<std::string> distinct;
    for (std::string& reason : reasons) {
      if (!reason.empty() &&
          std::find(distinct.begin(), distinct.end(), reason) == distinct.end()) {
        distinct.push_back(std::move(reason));
      }
    }
    joined = absl::StrJoin(distinct, "; ");
  }
  HILO_RETURN_IF_ERROR(world.BroadcastFromRoot(&joined));
  return absl::DeadlineExceededError(absl::StrCat(
      "hilo stopped the job after a stall of HILO_STALL_SHUTDOWN_SECONDS=",
      absl::ToDoubleSeconds(shutdown_), " s: ", joined));
}

}  // namespace hilo
