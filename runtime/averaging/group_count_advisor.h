// Recommends how many groups hierarchical local SGD can use before accuracy suffers, from the
// model discrepancy D measured in short trial runs at different group counts.
//
// The rule (docs/averaging.md): summarize each trial by the median D of its averaging rounds;
// recommend the largest group count k such that every trial with k' <= k groups stays at or
// under the threshold. Requiring all smaller counts to pass too makes one lucky, noisy trial at a
// large k unable to win. If even the smallest trial exceeds the threshold, the advice is the
// smallest count tried, flagged as above the threshold (fewer groups, a shorter tau, or a longer
// warm-up are then the levers).
//
// Default threshold 0.01: the groups' models differ from their average by 10% of its norm
// (RMS), which is where, in the experiments this default comes from, accuracy starts to drop;
// treat it as a starting point and calibrate it per model.
//
// Pure functions; thread-safe.
#ifndef HILO_RUNTIME_AVERAGING_GROUP_COUNT_ADVISOR_H_
#define HILO_RUNTIME_AVERAGING_GROUP_COUNT_ADVISOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hilo {

inline constexpr double kDefaultDiscrepancyThreshold = 0.01;

struct GroupCountTrial {
  int num_groups = 1;
  std::vector<double> discrepancies;  // D of each averaging round of the trial run
};

struct TrialSummary {
  int num_groups = 1;
  double median_discrepancy = 0;
  bool within_threshold = false;
};

struct GroupCountAdvice {
  int recommended_groups = 1;
  bool within_threshold = false;  // false: even the smallest count tried exceeded the threshold
  std::vector<TrialSummary> trials;  // sorted by group count
  std::string explanation;           // one sentence for people
};

// INVALID_ARGUMENT for no trials, a trial without rounds, a non-positive or repeated group count,
// a negative or non-finite discrepancy, or a threshold that is not positive.
absl::StatusOr<GroupCountAdvice> AdviseGroupCount(std::vector<GroupCountTrial> trials,
                                                  double threshold = kDefaultDiscrepancyThreshold);

}  // namespace hilo

#endif  // HILO_RUNTIME_AVERAGING_GROUP_COUNT_ADVISOR_H_
