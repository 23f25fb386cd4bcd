#include "runtime/observability/runtime_stats.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hilo {

std::string DescribeStall(const StallReport& stall) {
  return absl::StrCat("tensor '", stall.tensor, "' on ", stall.communicator, ": submitted by rank",
                      stall.submitted_by.size() == 1 ? " " : "s ",
                      absl::StrJoin(stall.submitted_by, ", "), ", not by rank",
                      stall.missing.size() == 1 ? " " : "s ", absl::StrJoin(stall.missing, ", "),
                      ", for ",
                      absl::FormatDuration(absl::Trunc(stall.waiting, absl::Milliseconds(100))));
}

}  // namespace hilo
