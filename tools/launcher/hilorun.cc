// hilorun: launches a hilo job, as horovodrun launches a Horovod one.
//
//   hilorun -np 8 [-H node1:4,node2:4 | --hostfile FILE] [--group-size 4] [...] COMMAND [ARGS...]
//
// Checks the request before anything starts (one-line errors, exit status 2), then runs COMMAND
// under mpirun with the HILO_* settings exported to every rank, forwards SIGINT, SIGTERM, SIGHUP,
// SIGQUIT, SIGUSR1 and SIGUSR2 to the job, and exits with the job's status (128 + N if mpirun
// was killed by signal N). `hilorun --check-build` prints what this build contains.
#include <mpi.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "proto/status.grpc.pb.h"
#include "runtime/common/usable_cpus.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "tools/launcher/launch_plan.h"

extern char** environ;

ABSL_FLAG(int, np, 0, "number of ranks (processes) to start");
ABSL_FLAG(std::string, H, "", "hosts and their slots, e.g. node1:4,node2:4 (default: this machine)");
ABSL_FLAG(std::string, hostfile, "", "file listing hosts, one per line: 'host slots=N' or 'host:N'");
ABSL_FLAG(int, group_size, 0, "ranks per group G (0: a group per node); -np must be divisible by it");
ABSL_FLAG(int, averaging_period, 0,
          "steps between cross-group averaging rounds (tau), for programs that read "
          "HILO_AVERAGING_PERIOD; 0: the program's own");
ABSL_FLAG(int64_t, warmup_steps, -1,
          "fully synchronous steps before local SGD (HILO_WARMUP_STEPS); -1: the program's own");
ABSL_FLAG(bool, hierarchical_allreduce, false,
          "world allreduces go reduce-scatter in the group, allreduce across groups, allgather "
          "in the group (HILO_HIERARCHICAL_ALLREDUCE=1)");
ABSL_FLAG(double, fusion_threshold_mb, -1, "largest fused allreduce in MiB (0: no fusion); -1: default");
ABSL_FLAG(double, cycle_time_ms, 0, "coordinator cycle time in milliseconds; 0: default");
ABSL_FLAG(std::string, log_level, "", "hilo's log level: trace, debug, info, warning or error");
ABSL_FLAG(int, status_port, 0,
          "serve the gRPC status endpoint on this port of each node (HILO_STATUS_PORT; hilo-status)");
ABSL_FLAG(std::string, status_address, "",
          "address the status endpoint binds (HILO_STATUS_ADDRESS; default 127.0.0.1)");
ABSL_FLAG(bool, progress, false,
          "print a progress line (steps/s, bytes/s, averaging rounds) every --progress_interval_s; "
          "on by default when stderr is a terminal");
ABSL_FLAG(double, progress_interval_s, 10, "seconds between progress lines");
ABSL_FLAG(std::string, timeline, "", "write rank 0's Chrome-trace timeline to this file (HILO_TIMELINE)");
ABSL_FLAG(bool, check_build, false, "print which transports and features this build has, and exit");
ABSL_FLAG(double, abort_grace_s, 30,
          "once mpirun has said the job failed, seconds to wait for it to end the job before "
          "hilorun stops mpirun itself (a node that cannot be reached keeps mpirun waiting)");
ABSL_FLAG(std::string, mpirun, "mpirun", "the mpirun to use");
ABSL_FLAG(std::string, mpirun_args, "", "extra arguments for mpirun, separated by spaces");

namespace hilo::launcher {
namespace {

constexpr int kUsageError = 2;

int Fail(absl::string_view message) {
  std::fprintf(stderr, "hilorun: %.*s\n", static_cast<int>(message.size()), message.data());
  return kUsageError;
}

void PrintBuild() {
  char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(mpi_version, &length);
  std::string mpi(mpi_version, static_cast<size_t>(length));
  mpi = mpi.substr(0, mpi.find_first_of(",\n"));
  std::printf("hilo build\n");
  std::printf("  control plane        MPI (%s)\n", mpi.c_str());
  std::printf("  host data plane      MPI, all dtypes (float16/bfloat16 summed by hilo's kernels)\n");
  if (transport::BuiltWithCuda()) {
    std::printf("  CUDA                 built with CUDA: kernels for sm_80 and sm_90 (kernels/cuda), "
                "NCCL %s\n",
                transport::NcclVersionString(transport::NcclHeaderVersion()).c_str());
  } else {
    std::printf("  CUDA                 not built (CPU-only build: no CUDA toolkit found, or "
                "--define=hilo_cuda=off)\n");
  }
  absl::StatusOr<int> nccl = transport::NcclRuntimeVersion();
  std::printf("  NCCL at run time     %s\n",
              nccl.ok() ? transport::NcclVersionString(*nccl).c_str()
                        : std::string(nccl.status().message()).c_str());
  absl::StatusOr<int> gpus = transport::CudaDeviceCount();
  std::printf("  CUDA devices here    %s\n",
              gpus.ok() ? absl::StrCat(*gpus).c_str()
                        : absl::StrCat("none (", gpus.status().message(), ")").c_str());
  std::printf("  features             response cache, tensor fusion, sharded cross-group "
              "averaging, local-SGD schedule, group-count advisor\n");
  std::printf("  timeline             --timeline FILE (Chrome trace of rank 0)\n");
  std::printf("  stall inspector      HILO_STALL_WARNING_SECONDS, HILO_STALL_SHUTDOWN_SECONDS\n");
  std::printf("  status endpoint      gRPC on each node's local rank 0 (--status-port; hilo-status)\n");
  std::printf("  progress             --progress (default when stderr is a terminal)\n");
}

std::map<std::string, std::string> InheritedHiloVariables() {
  std::map<std::string, std::string> inherited;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view variable = *entry;
    if (!absl::StartsWith(variable, "HILO_")) continue;
    const size_t equals = variable.find('=');
    if (equals == absl::string_view::npos) continue;
    inherited[std::string(variable.substr(0, equals))] = std::string(variable.substr(equals + 1));
  }
  return inherited;
}

// A TCP port that is free on 127.0.0.1 right now, for a status endpoint nobody asked for by
// number (--progress reads it). 0 if none could be found.
int FreeLocalPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    port = ntohs(address.sin_port);
  }
  close(fd);
  return port;
}

// The progress line: polls this machine's status endpoint (the node-local rank 0 here) and
// prints rates since the previous poll.
class ProgressReporter {
 public:
  ProgressReporter(int port, absl::Duration interval)
      : target_(absl::StrCat("127.0.0.1:", port)), interval_(interval), next_(absl::Now() + interval) {}

  void MaybeReport() {
    const absl::Time now = absl::Now();
    if (now < next_) return;
    next_ = now + interval_;
    // A new channel each time: the endpoint comes up a while after the job starts, and a channel
    // whose first attempt was refused backs off and fails calls fast for a while after.
    auto stub = status::HiloStatus::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
    status::StatusReply reply;
    if (!stub->GetStatus(&context, status::StatusRequest(), &reply).ok()) return;  // not up yet
    int64_t bytes = 0;
    for (const status::CommunicatorStatus& communicator : reply.communicators()) {
      bytes += communicator.bytes();
    }
    std::string line = absl::StrFormat("hilorun: progress at %.1f s:", reply.uptime_seconds());
    if (have_previous_) {
      const double seconds = std::max(1e-9, reply.uptime_seconds() - previous_.uptime_seconds());
      if (reply.steps() > 0) {
        absl::StrAppendFormat(&line, " %.1f steps/s (%lld steps),",
                              (reply.steps() - previous_.steps()) / seconds,
                              static_cast<long long>(reply.steps()));
      }
      absl::StrAppendFormat(&line, " %.1f MiB/s through rank %d,",
                            (bytes - previous_bytes_) / seconds / 1048576.0,
                            reply.topology().world_rank());
    } else if (reply.steps() > 0) {
      absl::StrAppendFormat(&line, " %lld steps,", static_cast<long long>(reply.steps()));
    }
    absl::StrAppendFormat(&line, " %lld averaging rounds", static_cast<long long>(reply.averaging().rounds()));
    if (reply.averaging().rounds() > 0) {
      absl::StrAppendFormat(&line, " (latest D = %.3g)", reply.averaging().latest_discrepancy());
    }
    if (reply.stalls_size() > 0) absl::StrAppendFormat(&line, ", %d stalled tensors", reply.stalls_size());
    std::fprintf(stderr, "%s\n", line.c_str());
    previous_ = reply;
    previous_bytes_ = bytes;
    have_previous_ = true;
  }

 private:
  const std::string target_;
  const absl::Duration interval_;
  absl::Time next_;
  status::StatusReply previous_;
  int64_t previous_bytes_ = 0;
  bool have_previous_ = false;
};

// Copies what mpirun wrote to its stderr through to ours, and feeds whole lines to `report`.
// Returns false at end of file.
bool RelayStderr(int fd, std::string& partial_line, FailureReport& report) {
  char buffer[4096];
  const ssize_t got = read(fd, buffer, sizeof(buffer));
  if (got <= 0) {
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (!partial_line.empty()) report.AddLine(partial_line);
    partial_line.clear();
    return false;
  }
  fwrite(buffer, 1, static_cast<size_t>(got), stderr);
  fflush(stderr);
  partial_line.append(buffer, static_cast<size_t>(got));
  for (size_t newline; (newline = partial_line.find('\n')) != std::string::npos;) {
    report.AddLine(absl::string_view(partial_line).substr(0, newline));
    partial_line.erase(0, newline + 1);
  }
  return true;
}

struct JobResult {
  int status = 0;         // to exit with
  std::string who_failed;  // from mpirun's report; empty if it named no rank
};

// Runs the plan's mpirun, forwarding signals and relaying its stderr.
// `progress_port` > 0: report progress from that endpoint every `progress_interval`.
JobResult RunJob(const LaunchPlan& plan, int progress_port, absl::Duration progress_interval,
                 absl::Duration abort_grace) {
  // The signals to forward are blocked here and collected with sigtimedwait, so no handler (and
  // no global state for it) is needed; the child unblocks them before exec.
  sigset_t forwarded;
  sigemptyset(&forwarded);
  for (int signal_number : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) {
    sigaddset(&forwarded, signal_number);
  }
  sigset_t previous;
  sigprocmask(SIG_BLOCK, &forwarded, &previous);

  std::vector<char*> argv;
  for (const std::string& arg : plan.mpirun_argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  int stderr_pipe[2];
  if (pipe(stderr_pipe) != 0) {
    return {Fail(absl::StrCat("pipe failed: ", std::strerror(errno))), ""};
  }
  const pid_t child = fork();
  if (child < 0) return {Fail(absl::StrCat("fork failed: ", std::strerror(errno))), ""};
  if (child == 0) {
    // Its own process group, so a terminal's Ctrl-C reaches the job once, through hilorun; and
    // if hilorun dies, mpirun is told to end the job rather than being left behind.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    dup2(stderr_pipe[1], STDERR_FILENO);
    close(stderr_pipe[0]);
    close(stderr_pipe[1]);
    execvp(argv[0], argv.data());
    std::fprintf(stderr, "hilorun: cannot run '%s': %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(stderr_pipe[1]);
  // After the fork: gRPC's threads and pollers do not survive one.
  std::unique_ptr<ProgressReporter> progress;
  if (progress_port > 0) {
    progress = std::make_unique<ProgressReporter>(progress_port, progress_interval);
  }

  FailureReport report;
  std::string partial_line;
  bool relaying = true;
  JobResult result;
  // When mpirun said the job failed, and when hilorun sent it SIGTERM because it did not end it.
  std::optional<absl::Time> failed_at, terminated_at;
  while (true) {
    if (relaying) {
      pollfd readable = {stderr_pipe[0], POLLIN, 0};
      if (poll(&readable, 1, 100) > 0) relaying = RelayStderr(stderr_pipe[0], partial_line, report);
    } else {
      usleep(100 * 1000);
    }
    if (progress != nullptr) progress->MaybeReport();
    timespec no_wait = {0, 0};
    for (int signal_number; (signal_number = sigtimedwait(&forwarded, nullptr, &no_wait)) > 0;) {
      kill(child, signal_number);
    }
    int status = 0;
    if (waitpid(child, &status, WNOHANG) != child) {
      // mpirun ends a failed job by telling every node's daemon to kill its ranks; a daemon on a
      // node it can no longer reach never answers, and mpirun waits forever. The ranks there
      // fail on their own (hilo's transport deadlines); the launcher must end too.
      if (!failed_at.has_value() && report.JobFailed()) failed_at = absl::Now();
      if (failed_at.has_value() && !terminated_at.has_value() &&
          absl::Now() - *failed_at > abort_grace) {
        std::fprintf(stderr,
                     "hilorun: mpirun has not ended the failed job %s after the failure (a node "
                     "may be unreachable); stopping it\n",
                     absl::FormatDuration(abort_grace).c_str());
        kill(child, SIGTERM);
        terminated_at = absl::Now();
      } else if (terminated_at.has_value() && absl::Now() - *terminated_at > absl::Seconds(5)) {
        kill(child, SIGKILL);
      }
      continue;
    }
    if (WIFEXITED(status)) result.status = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.status = 128 + WTERMSIG(status);
    // Stopped by us after the failure: the job's status is the failure, not our signal.
    if (terminated_at.has_value() && result.status == 0) result.status = 1;
    break;
  }
  // mpirun has exited; what it wrote last is still in the pipe (its own children never held it).
  while (relaying) {
    pollfd readable = {stderr_pipe[0], POLLIN, 0};
    if (poll(&readable, 1, 1000) <= 0) break;
    relaying = RelayStderr(stderr_pipe[0], partial_line, report);
  }
  close(stderr_pipe[0]);
  result.who_failed = report.Summary();
  return result;
}

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  absl::StatusOr<SplitArgs> split = SplitCommandLine(
      args,
      {"np", "H", "hostfile", "group_size", "averaging_period", "warmup_steps",
       "fusion_threshold_mb", "cycle_time_ms", "log_level", "timeline", "status_port",
       "status_address", "progress_interval_s", "abort_grace_s", "mpirun", "mpirun_args"},
      {"check_build", "progress", "hierarchical_allreduce", "help", "helpfull", "version"});
  if (!split.ok()) return Fail(split.status().message());
  absl::SetProgramUsageMessage(
      "runs a hilo job under mpirun: hilorun -np N [-H host:slots,... | --hostfile FILE] "
      "[--group-size G] [flags] COMMAND [ARGS...]");
  std::vector<char*> launcher_argv;
  for (std::string& arg : split->launcher) launcher_argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(launcher_argv.size()), launcher_argv.data());

  if (absl::GetFlag(FLAGS_check_build)) {
    PrintBuild();
    return 0;
  }

  LaunchRequest request;
  request.np = absl::GetFlag(FLAGS_np);
  request.group_size = absl::GetFlag(FLAGS_group_size);
  request.mpirun = absl::GetFlag(FLAGS_mpirun);
  request.command = split->command;
  request.local_cpus = UsableCpus();
  const std::string host_list = absl::GetFlag(FLAGS_H);
  const std::string hostfile = absl::GetFlag(FLAGS_hostfile);
  if (!host_list.empty() && !hostfile.empty()) return Fail("give -H or --hostfile, not both");
  if (!host_list.empty()) {
    absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostList(host_list);
    if (!hosts.ok()) return Fail(hosts.status().message());
    request.hosts = *std::move(hosts);
  }
  if (!hostfile.empty()) {
    std::ifstream file(hostfile);
    if (!file) {
      return Fail(absl::StrCat("cannot read hostfile '", hostfile, "': ", std::strerror(errno)));
    }
    std::stringstream text;
    text << file.rdbuf();
    absl::StatusOr<std::vector<HostSlots>> hosts = ParseHostfile(text.str(), hostfile);
    if (!hosts.ok()) return Fail(hosts.status().message());
    request.hosts = *std::move(hosts);
  }
  if (absl::GetFlag(FLAGS_averaging_period) != 0) {
    request.averaging_period = absl::GetFlag(FLAGS_averaging_period);
  }
  if (absl::GetFlag(FLAGS_warmup_steps) != -1) request.warmup_steps = absl::GetFlag(FLAGS_warmup_steps);
  if (absl::GetFlag(FLAGS_fusion_threshold_mb) != -1) {
    request.fusion_threshold_mb = absl::GetFlag(FLAGS_fusion_threshold_mb);
  }
  request.hierarchical_allreduce = absl::GetFlag(FLAGS_hierarchical_allreduce);
  if (absl::GetFlag(FLAGS_cycle_time_ms) != 0) request.cycle_time_ms = absl::GetFlag(FLAGS_cycle_time_ms);
  if (!absl::GetFlag(FLAGS_log_level).empty()) request.log_level = absl::GetFlag(FLAGS_log_level);
  if (absl::GetFlag(FLAGS_status_port) != 0) request.status_port = absl::GetFlag(FLAGS_status_port);
  if (!absl::GetFlag(FLAGS_status_address).empty()) {
    request.status_address = absl::GetFlag(FLAGS_status_address);
  }
  if (!absl::GetFlag(FLAGS_timeline).empty()) {
    // Absolute, so that ranks started in another directory write where the user meant.
    std::string path = absl::GetFlag(FLAGS_timeline);
    if (path[0] != '/') {
      char cwd[4096];
      if (getcwd(cwd, sizeof(cwd)) != nullptr) path = absl::StrCat(cwd, "/", path);
    }
    request.timeline = path;
  }
  for (absl::string_view arg :
       absl::StrSplit(absl::GetFlag(FLAGS_mpirun_args), ' ', absl::SkipWhitespace())) {
    request.extra_mpirun_args.emplace_back(arg);
  }

  // Progress needs an endpoint on this machine: the one asked for, or one on a free port.
  int progress_port = 0;
  if (absl::GetFlag(FLAGS_progress) || isatty(STDERR_FILENO)) {
    if (!request.status_port) {
      const int port = FreeLocalPort();
      if (port > 0) request.status_port = port;
    }
    if (request.status_port) progress_port = *request.status_port;
  }
  absl::StatusOr<LaunchPlan> plan = PlanLaunch(request, InheritedHiloVariables());
  if (!plan.ok()) return Fail(plan.status().message());
  if (geteuid() == 0) {
    // OpenMPI refuses to run as root unless told twice; a launcher run as root means it.
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  }
  const JobResult result =
      RunJob(*plan, progress_port,
             absl::Seconds(std::max(0.1, absl::GetFlag(FLAGS_progress_interval_s))),
             absl::Seconds(std::max(0.0, absl::GetFlag(FLAGS_abort_grace_s))));
  if (result.status != 0) {
    std::fprintf(stderr, "hilorun: the job failed (exit status %d)%s%s\n", result.status,
                 result.who_failed.empty() ? "" : ": ", result.who_failed.c_str());
  }
  return result.status;
}

}  // namespace
}  // namespace hilo::launcher

int main(int argc, char** argv) { return hilo::launcher::Main(argc, argv); }
