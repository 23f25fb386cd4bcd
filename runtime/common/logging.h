// Rank-tagged logging to stderr with a level from the runtime config.
//
// Every line carries the world rank, so the interleaved output of many processes stays readable:
//   [hilo 2026-11-25 15:42:01.123 rank 3 WARNING] tensor 'w1' stalled: ranks 5,6 missing
// Use HILO_LOG so that nothing is formatted when the level is off:
//   HILO_LOG(logger, hilo::LogLevel::kDebug, "cycle took ", elapsed);
// Thread-safe: each line is written with one fwrite; the rank may be set once it is known.
#ifndef HILO_RUNTIME_COMMON_LOGGING_H_
#define HILO_RUNTIME_COMMON_LOGGING_H_

#include <atomic>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace hilo {

enum class LogLevel : int { kTrace = 0, kDebug = 1, kInfo = 2, kWarning = 3, kError = 4 };

// Accepts trace, debug, info, warning, error (any case).
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
absl::string_view LogLevelName(LogLevel level);

class Logger {
 public:
  explicit Logger(LogLevel level) : level_(level) {}

  // The world rank, once MPI has told us; until then lines say "rank ?".
  void set_rank(int rank) { rank_.store(rank, std::memory_order_relaxed); }
  bool enabled(LogLevel level) const { return level >= level_; }
  LogLevel level() const { return level_; }

  void Log(LogLevel level, absl::string_view message) const;

 private:
  const LogLevel level_;
  std::atomic<int> rank_{-1};
};

}  // namespace hilo

#define HILO_LOG(logger, level, ...)                            \
  do {                                                          \
    if ((logger).enabled(level)) {                              \
      (logger).Log(level, ::absl::StrCat(__VA_ARGS__));         \
    }                                                           \
  } while (false)

#endif  // HILO_RUNTIME_COMMON_LOGGING_H_
