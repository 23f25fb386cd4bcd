// What hilorun decides before it starts anything: where the ranks go, which HILO_* settings they
// get, and the mpirun command line that runs them. Pure functions, so that every check the
// launcher makes (and its exact error message) is testable without starting a job.
#ifndef HILO_TOOLS_LAUNCHER_LAUNCH_PLAN_H_
#define HILO_TOOLS_LAUNCHER_LAUNCH_PLAN_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hilo::launcher {

struct HostSlots {
  std::string host;
  int slots = 1;
  bool operator==(const HostSlots& other) const {
    return host == other.host && slots == other.slots;
  }
};

// "host1:4,host2:4" (a host without ":N" has one slot). INVALID_ARGUMENT names the bad entry.
absl::StatusOr<std::vector<HostSlots>> ParseHostList(absl::string_view list);

// A hostfile's text: one host per line as "host slots=N" (OpenMPI, Horovod) or "host:N" or
// "host"; blank lines and '#' comments ignored. `origin` names the file in errors.
absl::StatusOr<std::vector<HostSlots>> ParseHostfile(absl::string_view text,
                                                     absl::string_view origin);

// hilorun's own arguments and the command, split at the first argument that is neither one of
// the launcher's flags nor a flag's value ("--" also ends the launcher's part). The launcher's
// flag names are normalized to absl's spelling ("--group-size" -> "--group_size").
struct SplitArgs {
  std::vector<std::string> launcher;  // argv[0] first
  std::vector<std::string> command;
};
// `value_flags`: the launcher's flags that take a value (absl spelling, without dashes);
// `bool_flags`: those that do not. An unknown flag before the command is INVALID_ARGUMENT.
absl::StatusOr<SplitArgs> SplitCommandLine(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& value_flags,
                                           const std::vector<std::string>& bool_flags);

struct LaunchRequest {
  int np = 0;
  std::vector<HostSlots> hosts;  // empty: every rank on this machine
  int group_size = 0;            // 0: a group per node
  std::optional<int> averaging_period;
  std::optional<int64_t> warmup_steps;
  std::optional<double> fusion_threshold_mb;
  bool hierarchical_allreduce = false;  // HILO_HIERARCHICAL_ALLREDUCE=1
  std::optional<double> cycle_time_ms;
  std::optional<std::string> log_level;
  std::optional<std::string> timeline;  // HILO_TIMELINE
  std::optional<int> status_port;       // HILO_STATUS_PORT
  std::optional<std::string> status_address;
  std::string mpirun = "mpirun";
  std::vector<std::string> extra_mpirun_args;
  std::vector<std::string> command;
  int local_cpus = 1;  // usable CPUs here (decides oversubscription of a one-machine job)
};

struct LaunchPlan {
  std::map<std::string, std::string> environment;  // HILO_* settings for every rank
  std::vector<std::string> mpirun_argv;             // argv of the mpirun to exec
  std::vector<int> ranks_per_host;                  // as mpirun will place them (by slot)
};

// Checks the request (one-line INVALID_ARGUMENT messages saying what to change) and builds the
// plan. `inherited` are HILO_* variables already in the launcher's environment: forwarded too,
// below the launcher's own flags.
absl::StatusOr<LaunchPlan> PlanLaunch(const LaunchRequest& request,
                                      const std::map<std::string, std::string>& inherited);

// Reads mpirun's stderr line by line and remembers which rank failed first and how, so the
// launcher can end with one line that names it (mpirun words it differently per failure).
class FailureReport {
 public:
  void AddLine(absl::string_view line);
  // "rank 1 (pid 4242, node n1) was killed by signal 9 (Killed)", "rank 0 exited with status 7",
  // or empty when mpirun's output named no rank.
  std::string Summary() const { return summary_; }
  // Whether mpirun has said that the job failed (a rank exited non-zero or was killed, or
  // mpirun aborted the job), even if it has not yet named the rank.
  bool JobFailed() const { return job_failed_; }

 private:
  std::string summary_;
  bool job_failed_ = false;
  int pending_rank_ = -1;  // "Process name: [[job,1],N]" seen, its "Exit code:" line not yet
};

}  // namespace hilo::launcher

#endif  // HILO_TOOLS_LAUNCHER_LAUNCH_PLAN_H_
