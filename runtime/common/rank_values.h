// Describes which ranks hold which value, for error messages that name the ranks that disagree.
//
//   DescribeRanksByValue({{"[4]", 0}, {"[3]", 1}, {"[4]", 2}})  ->  "[4] on ranks 0, 2; [3] on rank 1"
//
// Values are listed in order of first appearance; "" when every rank holds the same value.
// Pure function.
#ifndef HILO_RUNTIME_COMMON_RANK_VALUES_H_
#define HILO_RUNTIME_COMMON_RANK_VALUES_H_

#include <string>
#include <utility>
#include <vector>

namespace hilo {

// Each element is (value as text, rank).
std::string DescribeRanksByValue(const std::vector<std::pair<std::string, int>>& value_by_rank);

}  // namespace hilo

#endif  // HILO_RUNTIME_COMMON_RANK_VALUES_H_
