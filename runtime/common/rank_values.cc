#include "runtime/common/rank_values.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hilo {

std::string DescribeRanksByValue(const std::vector<std::pair<std::string, int>>& value_by_rank) {
  std::vector<std::pair<std::string, std::vector<int>>> groups;
  for (const auto& [value, rank] : value_by_rank) {
    auto it = groups.begin();
    while (it != groups.end() && it->first != value) ++it;
    if (it == groups.end()) it = groups.insert(groups.end(), {value, {}});
    it->second.push_back(rank);
  }
  if (groups.size() <= 1) return "";
  std::vector<std::string> parts;
  for (const auto& [value, ranks] : groups) {
    parts.push_back(absl::StrCat(value, " on rank", ranks.size() > 1 ? "s " : " ",
                                 absl::StrJoin(ranks, ", ")));
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace hilo
