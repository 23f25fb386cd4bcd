// The time the coordinator's decisions are made by, and the waits that end when it passes.
//
// Where timing decides behaviour — when the next cycle starts, how long a tensor has waited for
// a late rank, when a stall stops the job — the runtime reads a Clock instead of absl::Now(), so
// that tests can drive time: FakeClock moves only when the test advances it, and a test can wait
// until every coordinator has done all it can before time moves again.
//
//   FakeClock clock;
//   ... start runtimes on `clock` ...
//   clock.AwaitSleepers(2);               // both coordinators wait for the next cycle
//   clock.Advance(absl::Seconds(3));      // past the stall shutdown: both stop
//
// Thread-safe.
#ifndef HILO_RUNTIME_COMMON_CLOCK_H_
#define HILO_RUNTIME_COMMON_CLOCK_H_

#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace hilo {

class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;
  // Called with `mu` held, which it releases while it waits (as Mutex::Await does): returns once
  // `condition` holds (true) or this clock has reached `deadline` (false), with `mu` held again.
  virtual bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                                 absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;

  // The system's clock. Stateless, shared by every runtime of the process.
  static Clock& System();
};

// A clock for tests: it starts at an arbitrary time and moves only by Advance.
class FakeClock final : public Clock {
 public:
  FakeClock() = default;

  absl::Time Now() override ABSL_LOCKS_EXCLUDED(mu_);
  bool AwaitWithDeadline(absl::Mutex& mu, const absl::Condition& condition,
                         absl::Time deadline) override ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  void Advance(absl::Duration duration) ABSL_LOCKS_EXCLUDED(mu_);
  // Moves to the earliest deadline a thread waits for, but by at most `at_most` (by `at_most`
  // when none waits): the next moment at which anything can happen, so that a test steps from
  // one decision to the next instead of through every tick in between.
  void AdvanceToNextDeadline(absl::Duration at_most) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until at least `count` threads wait in AwaitWithDeadline for a deadline still ahead
  // of Now() with their condition false when last checked: they have done everything they will
  // do until the clock moves (or their condition changes). False if that has not happened within
  // `real_timeout` of real time.
  bool AwaitSleepers(int count, absl::Duration real_timeout = absl::Seconds(60))
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch() + absl::Hours(24 * 365 * 30);
  // Deadlines of the threads now waiting, one entry per thread.
  std::multiset<absl::Time> sleeping_until_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_COMMON_CLOCK_H_
