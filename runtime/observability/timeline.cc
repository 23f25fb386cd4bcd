#include "runtime/observability/timeline.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hilo {

std::string JsonString(absl::string_view text) {
  std::string quoted = "\"";
  for (char c : text) {
    switch (c) {
      case '"': quoted += "\\\""; break;
      case '\\': quoted += "\\\\"; break;
      case '\n': quoted += "\\n"; break;
      case '\t': quoted += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&quoted, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          quoted += c;
        }
    }
  }
  quoted += '"';
  return quoted;
}

absl::StatusOr<std::unique_ptr<Timeline>> Timeline::Open(const std::string& path,
                                                         absl::Time origin) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot write the timeline '", path, "': ",
                                                   std::strerror(errno)));
  }
  std::fputs("[\n", file);
  return std::unique_ptr<Timeline>(new Timeline(file, origin));
}

Timeline::~Timeline() {
  std::fputs("\n]\n", file_);
  std::fclose(file_);
}

void Timeline::Write(const std::string& event) {
  if (!first_event_) std::fputs(",\n", file_);
  first_event_ = false;
  std::fputs(event.c_str(), file_);
}

int Timeline::RowId(absl::string_view row) {
  auto [it, inserted] = rows_.try_emplace(row, static_cast<int>(rows_.size()) + 1);
  if (inserted) {
    Write(absl::StrCat("{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": ", it->second,
                       ", \"args\": {\"name\": ", JsonString(row), "}}"));
  }
  return it->second;
}

void Timeline::Phase(absl::string_view row, absl::string_view phase, absl::Time start,
                     absl::Time end, absl::string_view args_json) {
  const int id = RowId(row);
  const double ts = absl::ToDoubleMicroseconds(start - origin_);
  const double dur = std::max(0.0, absl::ToDoubleMicroseconds(end - start));
  Write(absl::StrFormat("{\"name\": %s, \"ph\": \"X\", \"pid\": %d, \"tid\": 0, \"ts\": %.3f, "
                        "\"dur\": %.3f, \"args\": {%s}}",
                        JsonString(phase), id, ts, dur, args_json));
}

void Timeline::Marker(absl::string_view row, absl::string_view name, absl::Time at) {
  const int id = RowId(row);
  Write(absl::StrFormat(
      "{\"name\": %s, \"ph\": \"i\", \"s\": \"p\", \"pid\": %d, \"tid\": 0, \"ts\": %.3f}",
      JsonString(name), id, absl::ToDoubleMicroseconds(at - origin_)));
}

}  // namespace hilo
