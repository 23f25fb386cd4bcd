#include "runtime/common/clock.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace hilo {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu.AwaitWithDeadline(condition, deadline);
  }
};

// How often a waiter on a FakeClock looks at it again. Only how soon a waiter notices an Advance
// depends on it, never what it decides.
constexpr absl::Duration kFakeClockPoll = absl::Milliseconds(1);

}  // namespace

Clock& Clock::System() {
  static SystemClock* const clock = new SystemClock();  // stateless: nothing here changes
  return *clock;
}

absl::Time FakeClock::Now() {
  absl::MutexLock lock(&mu_);
  return now_;
}

void FakeClock::Advance(absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  now_ += duration;
}

void FakeClock::AdvanceToNextDeadline(absl::Duration at_most) {
  absl::MutexLock lock(&mu_);
  absl::Time next = now_ + at_most;
  for (absl::Time deadline : sleeping_until_) {  // ordered: the first one ahead is the earliest
    if (deadline > now_) {
      next = std::min(next, deadline);
      break;
    }
  }
  now_ = next;
}

bool FakeClock::AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                                  absl::Time deadline) {
  bool sleeping = false;
  std::multiset<absl::Time>::iterator entry;
  bool held;
  while (true) {
    held = condition.Eval();
    if (held || Now() >= deadline) break;
    if (!sleeping) {
      absl::MutexLock lock(&mu_);
      entry = sleeping_until_.insert(deadline);
      sleeping = true;
    }
    // Real time only paces how often the fake time is looked at; the condition wakes it at once.
    mu.AwaitWithTimeout(condition, kFakeClockPoll);
  }
  if (sleeping) {
    absl::MutexLock lock(&mu_);
    sleeping_until_.erase(entry);
  }
  return held;
}

bool FakeClock::AwaitSleepers(int count, absl::Duration real_timeout) {
  const auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return std::count_if(sleeping_until_.begin(), sleeping_until_.end(),
                         [this](absl::Time deadline) { return deadline > now_; }) >= count;
  };
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&enough), real_timeout);
}

}  // namespace hilo
