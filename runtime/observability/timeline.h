// A Chrome-trace timeline of what the coordinator did with each tensor (HILO_TIMELINE), loadable
// in Perfetto or chrome://tracing. As in Horovod's timeline, each tensor is a row ("process") and
// its phases are complete events on it: QUEUE (enqueued, not yet taken into a negotiation),
// NEGOTIATE (reported, until every rank agreed), then for allreduces PACK, TRANSPORT, UNPACK
// (a tensor that was not fused has only TRANSPORT), for other collectives TRANSPORT. Averaging
// rounds get a row of their own with the round's discrepancy. Times are microseconds since the
// runtime started. The file is a JSON array, closed when the runtime shuts down (a viewer also
// reads an unterminated one, so a crashed job's timeline is still usable).
// Written by the coordinator thread only; not thread-safe.
#ifndef HILO_RUNTIME_OBSERVABILITY_TIMELINE_H_
#define HILO_RUNTIME_OBSERVABILITY_TIMELINE_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hilo {

class Timeline {
 public:
  // Creates (truncates) `path`. Events are timed relative to `origin`.
  static absl::StatusOr<std::unique_ptr<Timeline>> Open(const std::string& path,
                                                         absl::Time origin);
  ~Timeline();  // closes the array and the file

  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // One phase of `row` (a tensor's name, or "averaging rounds"). `args_json` is empty or a JSON
  // object's members, e.g. "\"bytes\": 4096".
  void Phase(absl::string_view row, absl::string_view phase, absl::Time start, absl::Time end,
             absl::string_view args_json = "");
  // An instant event `name` on `row` at `at` (a coordinator cycle's start, say).
  void Marker(absl::string_view row, absl::string_view name, absl::Time at);

 private:
  Timeline(std::FILE* file, absl::Time origin) : file_(file), origin_(origin) {}
  int RowId(absl::string_view row);  // declares the row on first use
  void Write(const std::string& event);

  std::FILE* file_;
  const absl::Time origin_;
  absl::flat_hash_map<std::string, int> rows_;
  bool first_event_ = true;
};

// `text` as a JSON string literal, quotes included.
std::string JsonString(absl::string_view text);

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_TIMELINE_H_
