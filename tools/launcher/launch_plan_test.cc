#include "tools/launcher/launch_plan.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo::launcher {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<std::string> kValueFlags = {"np", "H", "group_size", "log_level"};
const std::vector<std::string> kBoolFlags = {"check_build", "help"};

TEST(SplitCommandLineTest, LauncherFlagsThenTheCommandWithItsOwnFlags) {
  absl::StatusOr<SplitArgs> split = SplitCommandLine(
      {"hilorun", "-np", "4", "--group-size", "2", "--log-level=debug", "python3", "train.py",
       "--lr", "0.1", "-np", "9"},
      kValueFlags, kBoolFlags);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(split->launcher,
              ElementsAre("hilorun", "--np=4", "--group_size=2", "--log_level=debug"));
  EXPECT_THAT(split->command, ElementsAre("python3", "train.py", "--lr", "0.1", "-np", "9"));
}

TEST(SplitCommandLineTest, DoubleDashEndsTheLauncherPart) {
  absl::StatusOr<SplitArgs> split =
      SplitCommandLine({"hilorun", "--check-build", "--", "-weird-program"}, kValueFlags, kBoolFlags);
  ASSERT_TRUE(split.ok()) << split.status();
  EXPECT_THAT(split->launcher, ElementsAre("hilorun", "--check_build"));
  EXPECT_THAT(split->command, ElementsAre("-weird-program"));
}

TEST(SplitCommandLineTest, UnknownFlagsAndMissingValuesAreErrors) {
  absl::StatusOr<SplitArgs> unknown =
      SplitCommandLine({"hilorun", "--np=2", "--nope", "x"}, kValueFlags, kBoolFlags);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(), HasSubstr("unknown flag '--nope'"));
  absl::StatusOr<SplitArgs> missing = SplitCommandLine({"hilorun", "-np"}, kValueFlags, kBoolFlags);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("needs a value"));
}

TEST(HostsTest, HostListAndHostfileForms) {
  absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostList("node1:4,node-2.example:2,solo");
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  EXPECT_THAT(*hosts, ElementsAre(HostSlots{"node1", 4}, HostSlots{"node-2.example", 2},
                                  HostSlots{"solo", 1}));
  absl::StatusOr<std::vector<HostSlots>> from_file = ParseHostfile(
      "# the cluster\nnode1 slots=4\n\nnode2:3   # comment\nnode3 slots=2 max_slots=8\nnode4\n",
      "hosts.txt");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_THAT(*from_file, ElementsAre(HostSlots{"node1", 4}, HostSlots{"node2", 3},
                                      HostSlots{"node3", 2}, HostSlots{"node4", 1}));
}

TEST(HostsTest, MalformedHostsNameTheEntry) {
  for (const char* list : {"", "node1:", "node1:0", "node1:x", ":4", "a b:2", "node1,,node2"}) {
    absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostList(list);
    EXPECT_FALSE(hosts.ok()) << "'" << list << "'";
    if (!hosts.ok()) EXPECT_EQ(hosts.status().code(), absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<std::vector<HostSlots>> bad_line =
      ParseHostfile("node1 slots=4\nnode2 slots=zero\n", "h.txt");
  ASSERT_FALSE(bad_line.ok());
  EXPECT_THAT(bad_line.status().message(), HasSubstr("h.txt line 2"));
  EXPECT_FALSE(ParseHostfile("# nothing\n\n", "empty.txt").ok());
  EXPECT_FALSE(ParseHostfile("node1 cpus=4\n", "h.txt").ok());
}

LaunchRequest Request(int np, int group_size) {
  LaunchRequest request;
  request.np = np;
  request.group_size = group_size;
  request.command = {"./train", "--epochs", "3"};
  request.local_cpus = 2;
  return request;
}

bool Contains(const std::vector<std::string>& argv, const std::vector<std::string>& run) {
  return std::search(argv.begin(), argv.end(), run.begin(), run.end()) != argv.end();
}

TEST(PlanLaunchTest, OneMachineJobWithSettings) {
  LaunchRequest request = Request(8, 4);
  request.averaging_period = 16;
  request.warmup_steps = 100;
  request.fusion_threshold_mb = 32;
  request.hierarchical_allreduce = true;
  request.cycle_time_ms = 2.5;
  request.log_level = "INFO";
  request.timeline = "/tmp/run/timeline.json";
  request.status_port = 50051;
  absl::StatusOr<LaunchPlan> plan = PlanLaunch(request, {{"HILO_CACHE_CAPACITY", "64"},
                                                         {"HILO_GROUP_SIZE", "2"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->environment.at("HILO_GROUP_SIZE"), "4") << "the flag wins over the environment";
  EXPECT_EQ(plan->environment.at("HILO_CACHE_CAPACITY"), "64") << "inherited settings travel";
  EXPECT_EQ(plan->environment.at("HILO_AVERAGING_PERIOD"), "16");
  EXPECT_EQ(plan->environment.at("HILO_WARMUP_STEPS"), "100");
  EXPECT_EQ(plan->environment.at("HILO_FUSION_THRESHOLD"), "33554432");
  EXPECT_EQ(plan->environment.at("HILO_HIERARCHICAL_ALLREDUCE"), "1");
  EXPECT_EQ(plan->environment.at("HILO_CYCLE_TIME_MS"), "2.5");
  EXPECT_EQ(plan->environment.at("HILO_LOG_LEVEL"), "info");
  EXPECT_EQ(plan->environment.at("HILO_TIMELINE"), "/tmp/run/timeline.json");
  EXPECT_EQ(plan->environment.at("HILO_STATUS_PORT"), "50051");
  const std::vector<std::string>& argv = plan->mpirun_argv;
  EXPECT_EQ(argv.front(), "mpirun");
  EXPECT_TRUE(Contains(argv, {"-np", "8"}));
  EXPECT_TRUE(Contains(argv, {"--oversubscribe"})) << "8 ranks on 2 CPUs";
  EXPECT_TRUE(Contains(argv, {"-x", "HILO_GROUP_SIZE=4"}));
  EXPECT_TRUE(Contains(argv, {"./train", "--epochs", "3"}));
  EXPECT_EQ(argv.back(), "3") << "the command comes last";
  EXPECT_THAT(plan->ranks_per_host, ElementsAre(8));
}

TEST(PlanLaunchTest, HostsFillSlotByslot) {
  LaunchRequest request = Request(6, 0);
  request.hosts = {{"node1", 3}, {"node2", 3}, {"node3", 3}};
  absl::StatusOr<LaunchPlan> plan = PlanLaunch(request, {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->ranks_per_host, ElementsAre(3, 3));
  EXPECT_TRUE(Contains(plan->mpirun_argv, {"-H", "node1:3,node2:3,node3:3"}));
  EXPECT_FALSE(Contains(plan->mpirun_argv, {"--oversubscribe"})) << "slots are the user's word";
}

TEST(PlanLaunchTest, BadRequestsSayWhatToChange) {
  struct Case {
    LaunchRequest request;
    const char* message;
  };
  std::vector<Case> cases;
  cases.push_back({Request(6, 4), "-np 6 is not divisible by --group-size 4"});
  LaunchRequest no_command = Request(4, 2);
  no_command.command.clear();
  cases.push_back({no_command, "no command to run"});
  cases.push_back({Request(0, 0), "-np must be at least 1"});
  LaunchRequest too_many = Request(8, 4);
  too_many.hosts = {{"a", 2}, {"b", 2}};
  cases.push_back({too_many, "more than the 4 slots"});
  LaunchRequest uneven = Request(5, 0);
  uneven.hosts = {{"a", 3}, {"b", 3}};
  cases.push_back({uneven, "every host must run the same number of ranks"});
  LaunchRequest bad_level = Request(2, 0);
  bad_level.log_level = "loud";
  cases.push_back({bad_level, "--log-level loud: HILO_LOG_LEVEL"});
  LaunchRequest bad_port = Request(2, 0);
  bad_port.status_port = 70000;
  cases.push_back({bad_port, "--status-port 70000"});
  LaunchRequest bad_period = Request(2, 0);
  bad_period.averaging_period = -3;
  cases.push_back({bad_period, "--averaging-period"});
  LaunchRequest slow_cycles = Request(2, 0);
  slow_cycles.cycle_time_ms = 90000;
  cases.push_back({slow_cycles, "--cycle-time-ms 90000: HILO_CYCLE_TIME_MS"});
  LaunchRequest negative_warmup = Request(2, 0);
  negative_warmup.warmup_steps = -1;
  cases.push_back({negative_warmup, "--warmup-steps -1: HILO_WARMUP_STEPS"});
  for (const Case& c : cases) {
    absl::StatusOr<LaunchPlan> plan = PlanLaunch(c.request, {});
    ASSERT_FALSE(plan.ok()) << c.message;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr(c.message));
    EXPECT_EQ(plan.status().message().find('\n'), absl::string_view::npos) << "one line";
  }
}

// The HILO_* settings already in the launcher's environment go through the runtime's registry
// too: a misspelt name or a bad value fails the launch, not every rank's init.
TEST(PlanLaunchTest, InheritedSettingsAreCheckedByTheRegistry) {
  absl::StatusOr<LaunchPlan> misspelt = PlanLaunch(Request(2, 0), {{"HILO_CYCLE_TIMEMS", "2"}});
  ASSERT_FALSE(misspelt.ok());
  EXPECT_THAT(misspelt.status().message(), HasSubstr("HILO_CYCLE_TIMEMS is set in this "
                                                     "environment but is not a hilo setting"));
  absl::StatusOr<LaunchPlan> bad = PlanLaunch(Request(2, 0), {{"HILO_SHM_ALLREDUCE", "maybe"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("HILO_SHM_ALLREDUCE"));
  EXPECT_TRUE(PlanLaunch(Request(2, 0), {{"HILO_SHM_ALLREDUCE", "0"}}).ok());
}

TEST(FailureReportTest, NamesTheFirstFailedRank) {
  FailureReport killed;
  for (const char* line :
       {"--------------------------------------------------------------------------",
        "mpirun noticed that process rank 1 with PID 4242 on node n1 exited on signal 9 (Killed).",
        "mpirun noticed that process rank 3 with PID 4250 on node n1 exited on signal 15."}) {
    killed.AddLine(line);
  }
  EXPECT_EQ(killed.Summary(), "rank 1 (pid 4242, node n1) was killed by signal 9 (Killed)");
  FailureReport no_pid;
  no_pid.AddLine("mpirun noticed that process rank 0 with PID 0 on node vm exited on signal 6 (Aborted).");
  EXPECT_EQ(no_pid.Summary(), "rank 0 (node vm) was killed by signal 6 (Aborted)");

  FailureReport exited;
  for (const char* line : {"the job to be terminated. The first process to do so was:", "",
                           "  Process name: [[15928,1],2]", "  Exit code:    7"}) {
    exited.AddLine(line);
  }
  EXPECT_EQ(exited.Summary(), "rank 2 exited with status 7");

  FailureReport quiet;
  quiet.AddLine("Exit code: 3");  // no process named before it
  quiet.AddLine("some program output");
  EXPECT_EQ(quiet.Summary(), "");
  EXPECT_FALSE(quiet.JobFailed());
  EXPECT_TRUE(killed.JobFailed());
  EXPECT_TRUE(exited.JobFailed());
}

TEST(FailureReportTest, KnowsTheJobFailedBeforeMpirunNamesTheRank) {
  // What mpirun prints at once when a rank exits non-zero; the rank's name comes only once every
  // daemon has reported, which a daemon on an unreachable node never does.
  FailureReport aborted;
  for (const char* line : {"Primary job  terminated normally, but 1 process returned",
                           "a non-zero exit code. Per user-direction, the job has been aborted."}) {
    aborted.AddLine(line);
  }
  EXPECT_TRUE(aborted.JobFailed());
  EXPECT_EQ(aborted.Summary(), "");
}

}  // namespace
}  // namespace hilo::launcher
