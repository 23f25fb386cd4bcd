#include "runtime/averaging/group_count_advisor.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hilo {
namespace {

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace

absl::StatusOr<GroupCountAdvice> AdviseGroupCount(std::vector<GroupCountTrial> trials,
                                                  double threshold) {
  if (!(threshold > 0) || !std::isfinite(threshold)) {
    return absl::InvalidArgumentError(absl::StrCat("threshold must be positive, got ", threshold));
  }
  if (trials.empty()) return absl::InvalidArgumentError("no trial runs to advise from");
  std::sort(trials.begin(), trials.end(),
            [](const GroupCountTrial& a, const GroupCountTrial& b) { return a.num_groups < b.num_groups; });
  GroupCountAdvice advice;
  for (size_t i = 0; i < trials.size(); ++i) {
    const GroupCountTrial& trial = trials[i];
    if (trial.num_groups < 1) {
      return absl::InvalidArgumentError(absl::StrCat("group count must be >= 1, got ", trial.num_groups));
    }
    if (i > 0 && trial.num_groups == trials[i - 1].num_groups) {
      return absl::InvalidArgumentError(
          absl::StrCat("two trials with ", trial.num_groups, " groups; merge their rounds"));
    }
    if (trial.discrepancies.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the trial with ", trial.num_groups, " groups has no averaging rounds"));
    }
    for (double d : trial.discrepancies) {
      if (!(d >= 0) || !std::isfinite(d)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "discrepancy ", d, " in the trial with ", trial.num_groups, " groups is not a finite value >= 0"));
      }
    }
    const double median = Median(trial.discrepancies);
    advice.trials.push_back({trial.num_groups, median, median <= threshold});
  }
  // The largest count whose trial, and every trial with fewer groups, stays within the threshold.
  const auto first_failure = std::find_if(advice.trials.begin(), advice.trials.end(),
                                          [](const TrialSummary& t) { return !t.within_threshold; });
  if (first_failure == advice.trials.begin()) {
    advice.recommended_groups = advice.trials.front().num_groups;
    advice.within_threshold = false;
    advice.explanation = absl::StrFormat(
        "even %d groups exceed the threshold (median D %.3g > %.3g): use fewer groups, a shorter "
        "averaging period or a longer warm-up",
        advice.trials.front().num_groups, advice.trials.front().median_discrepancy, threshold);
    return advice;
  }
  const TrialSummary& chosen = *(first_failure - 1);
  advice.recommended_groups = chosen.num_groups;
  advice.within_threshold = true;
  if (first_failure == advice.trials.end()) {
    advice.explanation = absl::StrFormat(
        "%d groups: every group count tried stays within the threshold (median D %.3g <= %.3g); "
        "larger counts were not tried",
        chosen.num_groups, chosen.median_discrepancy, threshold);
  } else {
    advice.explanation = absl::StrFormat(
        "%d groups: the largest count whose discrepancy stays within the threshold (median D "
        "%.3g <= %.3g); %d groups reach %.3g",
        chosen.num_groups, chosen.median_discrepancy, threshold, first_failure->num_groups,
        first_failure->median_discrepancy);
  }
  return advice;
}

}  // namespace hilo
