// The stall inspector, as every rank of a 4-rank job (2 groups of 2) with
// HILO_STALL_WARNING_SECONDS=1 and HILO_STALL_SHUTDOWN_SECONDS=4. `stall_world_mpi_test world`:
// rank 2 never submits two world tensors the others submit — one never seen before (full path)
// and one that the first step cached (cache-hit path). `... group`: the same on group 1, where
// rank 3 forgets and rank 2 (the group's rank 0) is the one that sees it, while ranks 0 and 1
// know nothing of it. Every rank keeps other tensors flowing meanwhile. Checks: the inspecting
// rank reports both stalls naming the missing rank while the job runs; other tensors keep
// completing; after the shutdown time every rank — in both groups — sees its pending and later
// operations fail with DEADLINE_EXCEEDED naming the missing rank. Its own main: the job stops.
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

struct Scenario {
  hilo::CommunicatorKind communicator;
  std::string communicator_name;
  int forgetful_rank;
  int inspecting_rank;
  std::vector<int> submitted_by;
};

bool HasStall(const std::vector<hilo::StallReport>& stalls, const std::string& tensor,
              const Scenario& scenario) {
  for (const hilo::StallReport& stall : stalls) {
    if (stall.tensor == tensor && stall.communicator == scenario.communicator_name &&
        stall.missing == std::vector<int>{scenario.forgetful_rank} &&
        stall.submitted_by == scenario.submitted_by) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  hilo::testing::RankChecks checks;
  const bool on_group = argc > 1 && std::string(argv[1]) == "group";
  const Scenario scenario =
      on_group ? Scenario{hilo::CommunicatorKind::kGroup, "group 1", 3, 2, {2}}
               : Scenario{hilo::CommunicatorKind::kWorld, "world", 2, 0, {0, 1, 3}};
  absl::StatusOr<std::unique_ptr<hilo::Context>> started = hilo::Context::Init();
  if (!started.ok()) {
    std::fprintf(stderr, "init failed: %s\n", started.status().ToString().c_str());
    return 1;
  }
  hilo::Context& hilo = **started;
  const int rank = hilo.topology()->world_rank;
  checks.set_rank(rank);
  const bool forgetful = rank == scenario.forgetful_rank;
  // Only the members of the stalled communicator submit its tensors.
  const bool member = !on_group || hilo.topology()->group == 1;
  const hilo::CollectiveOptions options{scenario.communicator};
  std::vector<float> cached(16, 1.0f), first_time(16, 1.0f), flowing(16, 1.0f);
  auto tensor = [](std::vector<float>& data) {
    return hilo::TensorView{
        data.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(data.size())}};
  };

  // Step 1, everyone: "cached" enters the response cache.
  if (member) {
    absl::StatusOr<hilo::Handle> warmup = hilo.Allreduce("cached", tensor(cached), options);
    checks.Check(warmup.ok() && warmup->Wait(absl::Seconds(60)).ok(), "the first step completes");
  }

  // Step 2: rank 2 submits neither stalled tensor.
  std::vector<hilo::Handle> stalled;
  if (member && !forgetful) {
    for (auto [name, data] : {std::pair<const char*, std::vector<float>*>{"cached", &cached},
                              {"first.time", &first_time}}) {
      absl::StatusOr<hilo::Handle> handle = hilo.Allreduce(name, tensor(*data), options);
      checks.Check(handle.ok(), absl::StrCat("enqueue ", name));
      if (handle.ok()) stalled.push_back(*std::move(handle));
    }
  }

  // Meanwhile other tensors flow on every rank, until the runtime stops the job.
  const absl::Time start = absl::Now();
  int flowed = 0;
  bool saw_both_stalls = false;
  absl::Status stopped;
  for (int step = 0; absl::Now() - start < absl::Seconds(60); ++step) {
    absl::StatusOr<hilo::Handle> handle =
        hilo.Allreduce(absl::StrCat("flowing.", step % 3), tensor(flowing));
    absl::Status status = handle.ok() ? handle->Wait(absl::Seconds(60)) : handle.status();
    if (!status.ok()) {
      stopped = status;
      break;
    }
    ++flowed;
    if (rank == scenario.inspecting_rank && !saw_both_stalls) {
      absl::StatusOr<std::vector<hilo::StallReport>> stalls = hilo.CurrentStalls();
      saw_both_stalls = stalls.ok() && HasStall(*stalls, "first.time", scenario) &&
                        HasStall(*stalls, "cached", scenario);
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  const absl::Duration stopped_after = absl::Now() - start;
  std::printf("rank %d: %d tensors flowed; stopped after %s: %s\n", rank, flowed,
              absl::FormatDuration(stopped_after).c_str(), stopped.ToString().c_str());

  checks.Check(flowed >= 20, "other tensors kept flowing during the stall");
  if (rank == scenario.inspecting_rank) {
    checks.Check(saw_both_stalls, "the inspecting rank reported both stalls and the missing rank");
  }
  checks.Check(stopped.code() == absl::StatusCode::kDeadlineExceeded,
               "the job stopped with DEADLINE_EXCEEDED: " + stopped.ToString());
  checks.Check(
      absl::StrContains(stopped.message(), absl::StrCat("not by rank ", scenario.forgetful_rank)),
      "the error names the missing rank: " + std::string(stopped.message()));
  checks.Check(stopped_after >= absl::Seconds(3) && stopped_after < absl::Seconds(30),
               "stopped after the shutdown time: " + absl::FormatDuration(stopped_after));
  for (hilo::Handle& handle : stalled) {
    const absl::Status status = handle.Wait(absl::Seconds(10));
    checks.Check(status.code() == absl::StatusCode::kDeadlineExceeded,
                 "a stalled handle fails with DEADLINE_EXCEEDED: " + status.ToString());
  }
  const absl::Status shutdown = hilo.Shutdown();
  checks.Check(shutdown.code() == absl::StatusCode::kDeadlineExceeded,
               "shutdown reports why the job stopped: " + shutdown.ToString());
  return checks.ExitStatus();
}
