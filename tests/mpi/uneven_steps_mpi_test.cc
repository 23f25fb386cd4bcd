// A rank that runs one step fewer than the others, as every rank of a 4-rank job (2 groups of
// 2). `uneven_steps_mpi_test world`: rank 3 runs 4 steps of a world allreduce, the others 5, and
// then every rank shuts down. `... group`: the same on group 1's allreduce, where ranks 0 and 1
// (group 0) run all their steps normally. Before this, the others' fifth step waited for rank 3
// until the stall shutdown (or forever, its default). Checks: the fifth step fails on the ranks
// that ran it, within seconds, with FAILED_PRECONDITION and a message that names rank 3 as
// finished; the steps before it and group 0's steps complete; a tensor that rank 3 submitted
// just before it shut down ("late") still completes with the others' sums (shutdown does not cut
// off collectives a finished rank took part in); every rank's Shutdown() returns OK. The stall
// inspector's shutdown is off, so only the new rule can end the wait. Its own main: the job ends.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/hilo_cpp.h"
#include "tests/mpi/rank_checks.h"

namespace {

constexpr int kSteps = 5;
constexpr int kFinishedRank = 3;

}  // namespace

int main(int argc, char** argv) {
  hilo::testing::RankChecks checks;
  const bool on_group = argc > 1 && std::string(argv[1]) == "group";
  absl::StatusOr<std::unique_ptr<hilo::Context>> started = hilo::Context::Init();
  if (!started.ok()) {
    std::fprintf(stderr, "init failed: %s\n", started.status().ToString().c_str());
    return 1;
  }
  hilo::Context& hilo = **started;
  const int rank = hilo.topology()->world_rank;
  checks.set_rank(rank);
  const hilo::CommunicatorKind communicator =
      on_group ? hilo::CommunicatorKind::kGroup : hilo::CommunicatorKind::kWorld;
  // With `group`, only group 1 (ranks 2 and 3) is short of a step.
  const bool affected = !on_group || hilo.topology()->group == 1;
  // Which ranks the message lists as submitters depends on who had reported when the coordinator
  // decided (a rank ahead of the others fails first): only the finished rank is certain.
  const std::string expected_error = absl::StrCat(
      "tensor 'step' on communicator ", on_group ? "group 1" : "world",
      " can never complete: rank 3 has finished (shut down) without submitting it; submitted by");

  std::vector<float> data(64, 1.0f);
  const hilo::TensorView tensor{
      data.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(data.size())}};
  const int steps = rank == kFinishedRank ? kSteps - 1 : kSteps;
  for (int step = 0; step < steps; ++step) {
    // The same name every step: after the first, the others' steps are response-cache hits.
    absl::StatusOr<hilo::Handle> handle =
        hilo.Allreduce("step", tensor, hilo::CollectiveOptions{communicator});
    const absl::Time start = absl::Now();
    const absl::Status status = handle.ok() ? handle->Wait(absl::Seconds(60)) : handle.status();
    const absl::Duration took = absl::Now() - start;
    if (step < kSteps - 1 || !affected) {
      checks.Check(status.ok(), absl::StrCat("step ", step, " completes: ", status.ToString()));
      continue;
    }
    std::printf("rank %d: the extra step failed after %s: %s\n", rank,
                absl::FormatDuration(took).c_str(), status.ToString().c_str());
    checks.Check(status.code() == absl::StatusCode::kFailedPrecondition &&
                     absl::StrContains(status.message(), expected_error),
                 "the extra step fails naming the finished rank: " + status.ToString());
    checks.Check(took < absl::Seconds(20),
                 "it fails at once, not after a stall: " + absl::FormatDuration(took));
  }

  // "late": rank 3 submits it and shuts down at once; the others submit it a little later.
  std::vector<float> late(8, static_cast<float>(rank + 1));
  const hilo::TensorView late_tensor{
      late.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(late.size())}};
  absl::StatusOr<hilo::Handle> late_handle;
  if (rank == kFinishedRank) {
    late_handle = hilo.Allreduce(
        "late", late_tensor,
        hilo::CollectiveOptions{hilo::CommunicatorKind::kWorld, hilo::ReduceOp::kSum});
    checks.Check(late_handle.ok(), "enqueue late: " + late_handle.status().ToString());
  } else {
    absl::SleepFor(absl::Milliseconds(300));
    late_handle = hilo.Allreduce(
        "late", late_tensor,
        hilo::CollectiveOptions{hilo::CommunicatorKind::kWorld, hilo::ReduceOp::kSum});
    checks.Check(late_handle.ok(), "enqueue late: " + late_handle.status().ToString());
  }
  const absl::Status shutdown = hilo.Shutdown();
  checks.Check(shutdown.ok(), "shutdown: " + shutdown.ToString());
  if (late_handle.ok()) {
    const absl::Status status = late_handle->Wait(absl::Seconds(1));
    checks.Check(status.ok(),
                 "the tensor the finished rank submitted completes: " + status.ToString());
    checks.Check(late[0] == 10.0f, absl::StrCat("late = 1 + 2 + 3 + 4, got ", late[0]));
  }
  return checks.ExitStatus();
}
