#include "runtime/common/logging.h"

#include <cstdio>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hilo {

absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text) {
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "trace") return LogLevel::kTrace;
  if (lower == "debug") return LogLevel::kDebug;
  if (lower == "info") return LogLevel::kInfo;
  if (lower == "warning" || lower == "warn") return LogLevel::kWarning;
  if (lower == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown log level '", text, "' (expected trace, debug, info, warning or error)"));
}

absl::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return "TRACE";
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

void Logger::Log(LogLevel level, absl::string_view message) const {
  const int rank = rank_.load(std::memory_order_relaxed);
  std::string line = absl::StrCat(
      "[hilo ", absl::FormatTime("%Y-%m-%d %H:%M:%E3S", absl::Now(), absl::LocalTimeZone()),
      " rank ", rank < 0 ? std::string("?") : absl::StrCat(rank), " ", LogLevelName(level), "] ",
      message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace hilo
