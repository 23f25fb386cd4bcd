// A hilo job in which one rank fails on purpose, for hilorun's failure tests: every rank
// allreduces a tensor per step; at --fail_step, rank --fail_rank either kills itself with SIGKILL
// (--mode=kill) or exits with status 3 without shutting hilo down (--mode=exit). The others keep
// going and block in the next collective: ending them is the launcher's job.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/hilo_cpp.h"

ABSL_FLAG(int, fail_rank, 1, "the rank that fails");
ABSL_FLAG(int, fail_step, 5, "the step at which it fails");
ABSL_FLAG(std::string, mode, "kill", "kill: SIGKILL itself; exit: exit(3) without shutdown");
ABSL_FLAG(int, steps, 1000000, "steps to run if nothing fails");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init();
  if (!hilo.ok()) {
    std::fprintf(stderr, "failing_worker: %s\n", hilo.status().ToString().c_str());
    return 2;
  }
  const int rank = (*hilo)->topology()->world_rank;
  std::printf("rank %d pid %d\n", rank, static_cast<int>(getpid()));
  std::fflush(stdout);
  std::vector<float> gradient(1024, 1.0f);
  for (int step = 0; step < absl::GetFlag(FLAGS_steps); ++step) {
    if (rank == absl::GetFlag(FLAGS_fail_rank) && step == absl::GetFlag(FLAGS_fail_step)) {
      std::fprintf(stderr, "failing_worker: rank %d fails now (%s)\n", rank,
                   absl::GetFlag(FLAGS_mode).c_str());
      if (absl::GetFlag(FLAGS_mode) == "kill") raise(SIGKILL);
      _exit(3);
    }
    absl::StatusOr<hilo::Handle> handle = (*hilo)->Allreduce(
        "gradient", {gradient.data(), hilo::DataType::kFloat32, {1024}},
        {hilo::CommunicatorKind::kWorld, hilo::ReduceOp::kAverage});
    if (!handle.ok()) return 4;
    if (absl::Status status = handle->Wait(absl::Hours(1)); !status.ok()) {
      std::fprintf(stderr, "failing_worker: rank %d: %s\n", rank, status.ToString().c_str());
      return 5;
    }
  }
  return (*hilo)->Shutdown().ok() ? 0 : 6;
}
