// hilo_advise_groups: how many groups can hierarchical local SGD use before accuracy suffers?
//
// Give it the model discrepancy of the averaging rounds of short trial runs at different group
// counts (Context::AveragingHistory / hilo_discrepancy_history, or the "discrepancy" lines a
// training script logs), and it applies the rule of runtime/averaging/group_count_advisor.h:
//
//   hilo_advise_groups --trials='1:0,0;2:0.001,0.002;4:0.006,0.009;8:0.03,0.05'
//   hilo_advise_groups --trials_file=trials.txt --threshold=0.005 --json
//
// trials.txt has one trial per line: the group count, then its discrepancies, separated by spaces
// or commas; '#' starts a comment. Exit status: 0 with a recommendation within the threshold,
// 3 when even the smallest count exceeds it, 2 for bad input.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "runtime/averaging/group_count_advisor.h"

ABSL_FLAG(std::string, trials, "",
          "trials as 'K:D1,D2,...;K:D1,...' (group count, then its rounds' discrepancies)");
ABSL_FLAG(std::string, trials_file, "", "file with one trial per line: K D1 D2 ...");
ABSL_FLAG(double, threshold, hilo::kDefaultDiscrepancyThreshold,
          "largest acceptable median discrepancy");
ABSL_FLAG(bool, json, false, "print JSON instead of a table");

namespace {

// Parses "K:D1,D2" or "K D1 D2" (what follows the group count may use commas or spaces).
absl::StatusOr<hilo::GroupCountTrial> ParseTrial(absl::string_view text) {
  std::vector<std::string> fields;
  for (absl::string_view field : absl::StrSplit(text, absl::ByAnyChar(":, \t"), absl::SkipEmpty())) {
    fields.emplace_back(field);
  }
  hilo::GroupCountTrial trial;
  if (fields.empty() || !absl::SimpleAtoi(fields[0], &trial.num_groups)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': expected a group count first"));
  }
  for (size_t i = 1; i < fields.size(); ++i) {
    double value = 0;
    if (!absl::SimpleAtod(fields[i], &value)) {
      return absl::InvalidArgumentError(absl::StrCat("'", text, "': '", fields[i], "' is not a number"));
    }
    trial.discrepancies.push_back(value);
  }
  return trial;
}

absl::StatusOr<std::vector<hilo::GroupCountTrial>> ReadTrials() {
  std::vector<std::string> lines;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_trials), ';', absl::SkipWhitespace())) {
    lines.emplace_back(part);
  }
  const std::string path = absl::GetFlag(FLAGS_trials_file);
  if (!path.empty()) {
    std::ifstream file(path);
    if (!file) return absl::NotFoundError(absl::StrCat("cannot read --trials_file ", path));
    std::string line;
    while (std::getline(file, line)) {
      absl::string_view content = line;
      content = content.substr(0, content.find('#'));
      content = absl::StripAsciiWhitespace(content);
      if (!content.empty()) lines.emplace_back(content);
    }
  }
  std::vector<hilo::GroupCountTrial> trials;
  for (const std::string& line : lines) {
    absl::StatusOr<hilo::GroupCountTrial> trial = ParseTrial(line);
    if (!trial.ok()) return trial.status();
    trials.push_back(*std::move(trial));
  }
  return trials;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "recommends the number of groups for hierarchical local SGD from trial discrepancies");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::vector<hilo::GroupCountTrial>> trials = ReadTrials();
  const double threshold = absl::GetFlag(FLAGS_threshold);
  absl::StatusOr<hilo::GroupCountAdvice> advice =
      trials.ok() ? hilo::AdviseGroupCount(*trials, threshold) : trials.status();
  if (!advice.ok()) {
    std::fprintf(stderr, "hilo_advise_groups: %s\n", std::string(advice.status().message()).c_str());
    return 2;
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"threshold\": %.6g, \"recommended_groups\": %d, \"within_threshold\": %s, \"trials\": [",
                threshold, advice->recommended_groups, advice->within_threshold ? "true" : "false");
    for (size_t i = 0; i < advice->trials.size(); ++i) {
      const hilo::TrialSummary& t = advice->trials[i];
      std::printf("%s{\"groups\": %d, \"median_discrepancy\": %.6g, \"within_threshold\": %s}",
                  i ? ", " : "", t.num_groups, t.median_discrepancy, t.within_threshold ? "true" : "false");
    }
    std::printf("]}\n");
  } else {
    std::printf("%8s  %18s  %s\n", "groups", "median discrepancy", "within threshold");
    for (const hilo::TrialSummary& t : advice->trials) {
      std::printf("%8d  %18.4g  %s\n", t.num_groups, t.median_discrepancy, t.within_threshold ? "yes" : "no");
    }
    std::printf("recommended: %d groups (threshold %.4g) - %s\n", advice->recommended_groups,
                threshold, advice->explanation.c_str());
  }
  return advice->within_threshold ? 0 : 3;
}
