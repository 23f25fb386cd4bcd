#include "tools/launcher/launch_plan.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/common/config.h"

namespace hilo::launcher {
namespace {

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

bool ValidHostName(absl::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<HostSlots> ParseHostEntry(absl::string_view entry, absl::string_view where) {
  entry = absl::StripAsciiWhitespace(entry);
  HostSlots parsed;
  absl::string_view host = entry;
  const size_t colon = entry.rfind(':');
  if (colon != absl::string_view::npos) {
    host = entry.substr(0, colon);
    if (!absl::SimpleAtoi(entry.substr(colon + 1), &parsed.slots) || parsed.slots < 1) {
      return Invalid(absl::StrCat(where, ": '", entry,
                                  "' needs a positive number of slots after ':' (host:N)"));
    }
  }
  if (!ValidHostName(host)) {
    return Invalid(absl::StrCat(where, ": '", entry, "' is not a host name (host or host:N)"));
  }
  parsed.host = std::string(host);
  return parsed;
}

}  // namespace

absl::StatusOr<std::vector<HostSlots>> ParseHostList(absl::string_view list) {
  if (absl::StripAsciiWhitespace(list).empty()) {
    return Invalid("-H needs hosts, e.g. -H node1:4,node2:4");
  }
  std::vector<HostSlots> hosts;
  for (absl::string_view entry : absl::StrSplit(list, ',')) {
    absl::StatusOr<HostSlots> host = ParseHostEntry(entry, "-H");
    if (!host.ok()) return host.status();
    hosts.push_back(*std::move(host));
  }
  return hosts;
}

absl::StatusOr<std::vector<HostSlots>> ParseHostfile(absl::string_view text,
                                                     absl::string_view origin) {
  std::vector<HostSlots> hosts;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const size_t comment = line.find('#');
    if (comment != absl::string_view::npos) line = line.substr(0, comment);
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    const std::string where = absl::StrCat(origin, " line ", line_number);
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipWhitespace());
    absl::StatusOr<HostSlots> host = ParseHostEntry(words[0], where);
    if (!host.ok()) return host.status();
    for (size_t i = 1; i < words.size(); ++i) {
      absl::string_view word = words[i];
      if (absl::ConsumePrefix(&word, "slots=")) {
        if (!absl::SimpleAtoi(word, &host->slots) || host->slots < 1) {
          return Invalid(absl::StrCat(where, ": slots must be a positive number"));
        }
      } else if (!absl::StartsWith(word, "max_slots=")) {
        return Invalid(absl::StrCat(where, ": unexpected '", word,
                                    "' (expected: host slots=N, or host:N)"));
      }
    }
    hosts.push_back(*std::move(host));
  }
  if (hosts.empty()) return Invalid(absl::StrCat(origin, " lists no hosts"));
  return hosts;
}

absl::StatusOr<SplitArgs> SplitCommandLine(const std::vector<std::string>& argv,
                                           const std::vector<std::string>& value_flags,
                                           const std::vector<std::string>& bool_flags) {
  const std::set<std::string> takes_value(value_flags.begin(), value_flags.end());
  const std::set<std::string> is_bool(bool_flags.begin(), bool_flags.end());
  SplitArgs split;
  if (argv.empty()) return split;
  split.launcher.push_back(argv[0]);
  size_t i = 1;
  for (; i < argv.size(); ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;  // the command starts here
    absl::string_view body = arg;
    absl::ConsumePrefix(&body, "-");
    absl::ConsumePrefix(&body, "-");
    const size_t equals = body.find('=');
    std::string name(body.substr(0, equals));
    std::replace(name.begin(), name.end(), '-', '_');
    const bool known_value = takes_value.count(name) > 0;
    const bool known_bool = is_bool.count(name) > 0 ||
                            (absl::StartsWith(name, "no") && is_bool.count(name.substr(2)) > 0);
    if (!known_value && !known_bool) {
      return Invalid(absl::StrCat("unknown flag '", arg, "' (see hilorun --help)"));
    }
    std::string normalized = absl::StrCat("--", name);
    if (equals != absl::string_view::npos) {
      absl::StrAppend(&normalized, body.substr(equals));
      split.launcher.push_back(normalized);
      continue;
    }
    if (known_value) {
      if (i + 1 >= argv.size()) return Invalid(absl::StrCat("flag '", arg, "' needs a value"));
      split.launcher.push_back(absl::StrCat(normalized, "=", argv[++i]));
      continue;
    }
    split.launcher.push_back(normalized);
  }
  split.command.assign(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
  return split;
}

namespace {

// Every HILO_* variable in `environment` is one the registry knows, and every value parses there.
// A bad value that came from a flag is reported under the flag's name, with the registry's reason.
absl::Status CheckSettings(const LaunchRequest& request,
                           const std::map<std::string, std::string>& environment) {
  std::set<std::string> known;
  for (const hilo::ConfigOption& option : hilo::ConfigRegistry()) known.insert(std::string(option.name));
  for (const auto& [name, value] : environment) {
    if (absl::StartsWith(name, "HILO_") && known.count(name) == 0) {
      return Invalid(absl::StrCat(name, " is set in this environment but is not a hilo setting "
                                        "(docs/configuration.md lists them)"));
    }
  }
  const absl::StatusOr<hilo::RuntimeConfig> config = hilo::ConfigFromLookup(
      [&environment](absl::string_view name) -> std::optional<std::string> {
        const auto found = environment.find(std::string(name));
        if (found == environment.end()) return std::nullopt;
        return found->second;
      });
  if (config.ok()) return absl::OkStatus();
  const struct {
    const char* variable;
    const char* flag;
    bool from_flag;
  } flags[] = {
      {"HILO_WARMUP_STEPS", "--warmup-steps", request.warmup_steps.has_value()},
      {"HILO_CYCLE_TIME_MS", "--cycle-time-ms", request.cycle_time_ms.has_value()},
      {"HILO_LOG_LEVEL", "--log-level", request.log_level.has_value()},
      {"HILO_TIMELINE", "--timeline", request.timeline.has_value()},
      {"HILO_STATUS_PORT", "--status-port", request.status_port.has_value()},
      {"HILO_STATUS_ADDRESS", "--status-address", request.status_address.has_value()},
  };
  for (const auto& flag : flags) {
    if (flag.from_flag && absl::StrContains(config.status().message(), flag.variable)) {
      return Invalid(absl::StrCat(flag.flag, " ", environment.at(flag.variable), ": ",
                                  config.status().message()));
    }
  }
  return Invalid(config.status().message());
}

}  // namespace

absl::StatusOr<LaunchPlan> PlanLaunch(const LaunchRequest& request,
                                      const std::map<std::string, std::string>& inherited) {
  if (request.command.empty()) {
    return Invalid("no command to run: hilorun [flags] COMMAND [ARGS...]");
  }
  if (request.np < 1) return Invalid("-np must be at least 1");
  if (request.group_size < 0) return Invalid("--group-size must be >= 0 (0: a group per node)");
  if (request.group_size > 0 && request.np % request.group_size != 0) {
    return Invalid(absl::StrCat("-np ", request.np, " is not divisible by --group-size ",
                                request.group_size, ": every group must be the same size"));
  }

  LaunchPlan plan;
  // Where mpirun --map-by slot puts the ranks: host by host, filling each one's slots.
  if (request.hosts.empty()) {
    plan.ranks_per_host = {request.np};
  } else {
    int total_slots = 0, left = request.np;
    for (const HostSlots& host : request.hosts) {
      total_slots += host.slots;
      const int here = std::min(left, host.slots);
      if (here > 0) plan.ranks_per_host.push_back(here);
      left -= here;
    }
    if (left > 0) {
      return Invalid(absl::StrCat("-np ", request.np, " is more than the ", total_slots,
                                  " slots of the hosts; add hosts or slots (host:N)"));
    }
  }
  if (request.group_size == 0) {
    const auto [fewest, most] =
        std::minmax_element(plan.ranks_per_host.begin(), plan.ranks_per_host.end());
    if (*fewest != *most) {
      return Invalid(absl::StrCat(
          "with a group per node (--group-size 0) every host must run the same number of ranks, "
          "but these hosts run ", absl::StrJoin(plan.ranks_per_host, ", "),
          "; give every host the same slots or set --group-size"));
    }
  }

  for (const auto& [name, value] : inherited) plan.environment[name] = value;
  plan.environment["HILO_GROUP_SIZE"] = absl::StrCat(request.group_size);
  if (request.averaging_period) {
    if (*request.averaging_period < 1) return Invalid("--averaging-period must be at least 1");
    plan.environment["HILO_AVERAGING_PERIOD"] = absl::StrCat(*request.averaging_period);
  }
  if (request.warmup_steps) {
    plan.environment["HILO_WARMUP_STEPS"] = absl::StrCat(*request.warmup_steps);
  }
  if (request.fusion_threshold_mb) {
    const double mb = *request.fusion_threshold_mb;
    if (!(mb >= 0) || mb > 1 << 20) {
      return Invalid("--fusion-threshold-mb must be between 0 (no fusion) and 1048576");
    }
    plan.environment["HILO_FUSION_THRESHOLD"] =
        absl::StrCat(static_cast<int64_t>(std::llround(mb * (1 << 20))));
  }
  if (request.hierarchical_allreduce) plan.environment["HILO_HIERARCHICAL_ALLREDUCE"] = "1";
  if (request.cycle_time_ms) {
    plan.environment["HILO_CYCLE_TIME_MS"] = absl::StrCat(*request.cycle_time_ms);
  }
  if (request.log_level) {
    plan.environment["HILO_LOG_LEVEL"] = absl::AsciiStrToLower(*request.log_level);
  }
  if (request.timeline) plan.environment["HILO_TIMELINE"] = *request.timeline;
  if (request.status_port) {
    if (*request.status_port == 0) return Invalid("--status-port 0: give a TCP port (1-65535)");
    plan.environment["HILO_STATUS_PORT"] = absl::StrCat(*request.status_port);
  }
  if (request.status_address) plan.environment["HILO_STATUS_ADDRESS"] = *request.status_address;
  // Every HILO_* setting the job will see — from the flags above and from this environment — is
  // checked here by the runtime's own registry (runtime/common/config.h), with its message, so a
  // bad value fails at launch, once, instead of at init on every rank.
  if (absl::Status settings = CheckSettings(request, plan.environment); !settings.ok()) {
    return settings;
  }

  std::vector<std::string>& argv = plan.mpirun_argv;
  argv = {request.mpirun, "-np", absl::StrCat(request.np)};
  if (!request.hosts.empty()) {
    std::vector<std::string> entries;
    for (const HostSlots& host : request.hosts) {
      entries.push_back(absl::StrCat(host.host, ":", host.slots));
    }
    argv.insert(argv.end(), {"-H", absl::StrJoin(entries, ",")});
  }
  // Ranks in slot order, so that consecutive ranks — a group — share a host; no binding, so the
  // coordinator thread and the framework's threads can run on any core.
  argv.insert(argv.end(), {"--map-by", "slot", "--bind-to", "none"});
  if (request.hosts.empty() && request.np > request.local_cpus) {
    // More ranks than CPUs here: allowed, and ranks waiting in MPI yield the CPU instead of
    // spinning, or an oversubscribed job starves itself.
    argv.insert(argv.end(), {"--oversubscribe", "--mca", "mpi_yield_when_idle", "1"});
  }
  for (const auto& [name, value] : plan.environment) {
    argv.insert(argv.end(), {"-x", absl::StrCat(name, "=", value)});
  }
  argv.insert(argv.end(), request.extra_mpirun_args.begin(), request.extra_mpirun_args.end());
  argv.insert(argv.end(), request.command.begin(), request.command.end());
  return plan;
}

void FailureReport::AddLine(absl::string_view line) {
  if (!summary_.empty()) return;  // the first failure is the cause; later ones are its echoes
  line = absl::StripAsciiWhitespace(line);
  // "Per user-direction, the job has been aborted." comes first when a rank exits non-zero.
  if (absl::StrContains(line, "the job has been aborted") ||
      absl::StrContains(line, "mpirun noticed that process")) {
    job_failed_ = true;
  }
  // "mpirun noticed that process rank 1 with PID 4242 on node n1 exited on signal 9 (Killed)."
  constexpr absl::string_view kNoticed = "mpirun noticed that process rank ";
  if (absl::StartsWith(line, kNoticed)) {
    absl::string_view rest = line.substr(kNoticed.size());
    std::vector<absl::string_view> words = absl::StrSplit(rest, ' ', absl::SkipWhitespace());
    // rank, "with", "PID", pid, "on", "node", node, then what happened.
    if (words.size() >= 8 && words[1] == "with" && words[2] == "PID" && words[5] == "node") {
      std::string what = std::string(absl::StripSuffix(absl::StrJoin(
          std::vector<absl::string_view>(words.begin() + 7, words.end()), " "), "."));
      absl::string_view how = what;
      if (absl::ConsumePrefix(&how, "exited on signal ")) {
        what = absl::StrCat("was killed by signal ", how);
      }
      // mpirun reports PID 0 when its daemon could not tell.
      const std::string pid = words[3] == "0" ? "" : absl::StrCat("pid ", words[3], ", ");
      summary_ = absl::StrCat("rank ", words[0], " (", pid, "node ", words[6], ") ", what);
    }
    return;
  }
  // "Process name: [[15928,1],0]" then "Exit code:    7".
  absl::string_view rest = line;
  if (absl::ConsumePrefix(&rest, "Process name: [[")) {
    const size_t last_comma = rest.rfind(',');
    int rank = -1;
    if (last_comma != absl::string_view::npos &&
        absl::SimpleAtoi(absl::StripSuffix(rest.substr(last_comma + 1), "]"), &rank)) {
      pending_rank_ = rank;
    }
    return;
  }
  if (pending_rank_ >= 0 && absl::ConsumePrefix(&rest, "Exit code:")) {
    summary_ = absl::StrCat("rank ", pending_rank_, " exited with status ",
                            absl::StripAsciiWhitespace(rest));
    job_failed_ = true;
  }
}

}  // namespace hilo::launcher
