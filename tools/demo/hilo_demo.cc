// hilo's demo job: many named tensors per step, averaged inside each group every step and summed
// over the whole world for some, and every --tau steps a cross-group averaging round of a model
// whose groups have drifted apart: the way a hierarchical local-SGD training run uses hilo.
// Every rank checks every result against the value it must have; rank 0 prints progress and a
// summary with throughput. Exit status 0 only if every rank saw every result right.
//
// Run under MPI, e.g. (what tools/run_demo.sh does):
//   mpirun -np 8 -x HILO_GROUP_SIZE=4 bazel-bin/tools/demo/hilo_demo --steps=300
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/hilo_cpp.h"

ABSL_FLAG(int, steps, 300, "training steps to simulate");
ABSL_FLAG(int, tensors, 48, "named tensors per step (gradients of a model's layers)");
ABSL_FLAG(int64_t, min_elements, 1024, "float32 elements of the smallest tensor");
ABSL_FLAG(int64_t, max_elements, 262144, "float32 elements of the largest tensor");
ABSL_FLAG(int, world_every, 4,
          "every Nth tensor is summed over the world instead of averaged in the group");
ABSL_FLAG(int, report_every, 50, "print progress every N steps (0: only the summary)");
ABSL_FLAG(double, timeout_s, 120, "fail a step whose collective takes longer than this");
ABSL_FLAG(int, tau, 10, "steps between cross-group averaging rounds (0: none)");
ABSL_FLAG(int64_t, model_elements, 1 << 20, "float32 parameters of the averaged model");

namespace {

struct TensorPlan {
  std::string name;
  hilo::CommunicatorKind communicator;
  std::vector<float> data;
};

// What rank r writes into tensor t at step s: small integers, so sums are exact in float32.
float Contribution(int rank, int step, int tensor) {
  return static_cast<float>(rank + (step % 7) + (tensor % 5));
}

int Run() {
  absl::StatusOr<std::unique_ptr<hilo::Context>> started = hilo::Context::Init();
  if (!started.ok()) {
    std::fprintf(stderr, "hilo_demo: init failed: %s\n", started.status().ToString().c_str());
    return 2;
  }
  hilo::Context& hilo = **started;
  const hilo::Topology topology = *hilo.topology();
  const bool leader = topology.world_rank == 0;

  const int steps = absl::GetFlag(FLAGS_steps);
  const int num_tensors = absl::GetFlag(FLAGS_tensors);
  const int64_t min_elements = absl::GetFlag(FLAGS_min_elements);
  const int64_t max_elements = std::max(min_elements, absl::GetFlag(FLAGS_max_elements));
  const int world_every = std::max(1, absl::GetFlag(FLAGS_world_every));
  const absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout_s));

  // Sizes spread geometrically between min and max, like the layers of a network.
  std::vector<TensorPlan> plan(num_tensors);
  int64_t group_bytes = 0, world_bytes = 0;
  for (int t = 0; t < num_tensors; ++t) {
    const double fraction = num_tensors > 1 ? static_cast<double>(t) / (num_tensors - 1) : 0.0;
    const int64_t elements = static_cast<int64_t>(
        std::llround(min_elements * std::pow(static_cast<double>(max_elements) / min_elements, fraction)));
    plan[t].name = absl::StrCat("layer", t, "/grad");
    plan[t].communicator =
        t % world_every == world_every - 1 ? hilo::CommunicatorKind::kWorld : hilo::CommunicatorKind::kGroup;
    plan[t].data.resize(elements);
    (plan[t].communicator == hilo::CommunicatorKind::kWorld ? world_bytes : group_bytes) +=
        elements * 4;
  }
  if (leader) {
    std::printf("hilo demo: %d ranks = %d groups x %d, %d steps of %d tensors "
                "(%.2f MiB averaged in the group + %.2f MiB summed over the world per step)\n",
                topology.world_size, topology.num_groups, topology.group_size, steps, num_tensors,
                group_bytes / 1048576.0, world_bytes / 1048576.0);
    std::fflush(stdout);
  }

  // Reference sums over each communicator's ranks, computed from the layout alone.
  auto member_rank_sum = [&](hilo::CommunicatorKind kind) {
    int64_t sum = 0;
    for (int c = 0; c < topology.CommunicatorSize(kind); ++c) sum += topology.WorldRankOf(kind, c);
    return sum;
  };
  const int64_t group_rank_sum = member_rank_sum(hilo::CommunicatorKind::kGroup);
  const int64_t world_rank_sum = member_rank_sum(hilo::CommunicatorKind::kWorld);

  // The model: identical inside a group, different across groups (group g adds g * 0.01 per
  // step, as if each group followed its own data), so each round has something to average.
  // hilorun --averaging-period (HILO_AVERAGING_PERIOD) overrides --tau.
  const int tau = hilo.config().averaging_period > 0 ? hilo.config().averaging_period
                                                     : absl::GetFlag(FLAGS_tau);
  std::vector<float> model(absl::GetFlag(FLAGS_model_elements), 1.0f);
  int rounds = 0;
  double last_discrepancy = 0;

  int64_t wrong_values = 0;
  std::string first_error;
  std::vector<hilo::Handle> handles(num_tensors);
  const absl::Time start = absl::Now();
  absl::Time window_start = start;
  for (int step = 0; step < steps && first_error.empty(); ++step) {
    for (int t = 0; t < num_tensors; ++t) {
      std::fill(plan[t].data.begin(), plan[t].data.end(), Contribution(topology.world_rank, step, t));
      hilo::CollectiveOptions options;
      options.communicator = plan[t].communicator;
      options.reduce_op = plan[t].communicator == hilo::CommunicatorKind::kGroup
                              ? hilo::ReduceOp::kAverage
                              : hilo::ReduceOp::kSum;
      absl::StatusOr<hilo::Handle> handle = hilo.Allreduce(
          plan[t].name,
          {plan[t].data.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(plan[t].data.size())}},
          options);
      if (!handle.ok()) {
        first_error = handle.status().ToString();
        break;
      }
      handles[t] = *std::move(handle);
    }
    for (int t = 0; t < num_tensors && first_error.empty(); ++t) {
      const absl::Status status = handles[t].Wait(timeout);
      if (!status.ok()) {
        first_error = absl::StrCat("step ", step, " ", plan[t].name, ": ", status.ToString());
        break;
      }
      const bool in_group = plan[t].communicator == hilo::CommunicatorKind::kGroup;
      const int members = in_group ? topology.group_size : topology.world_size;
      const double offset = (step % 7) + (t % 5);
      const double sum = (in_group ? group_rank_sum : world_rank_sum) + members * offset;
      const float expected = static_cast<float>(in_group ? sum / members : sum);
      for (float value : plan[t].data) {
        if (std::fabs(value - expected) > 1e-6f * std::max(1.0f, std::fabs(expected))) ++wrong_values;
      }
    }
    for (float& w : model) w += 0.01f * static_cast<float>(topology.group + 1);
    if (tau > 0 && (step + 1) % tau == 0 && first_error.empty()) {
      // Every group's model is 1 + 0.01 * (g + 1) * (steps since the last round) above the
      // last average; the new average is the mean over groups.
      const float before_mean = model[0] - 0.01f * static_cast<float>(topology.group + 1) * tau;
      absl::StatusOr<hilo::Handle> round = hilo.AverageAcrossGroups(
          "demo/model", {{model.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(model.size())}}});
      absl::Status status = round.ok() ? round->Wait(timeout) : round.status();
      if (!status.ok()) {
        first_error = absl::StrCat("averaging round after step ", step, ": ", status.ToString());
      } else {
        ++rounds;
        last_discrepancy = round->discrepancy().value_or(-1);
        const float expected = before_mean + 0.01f * tau * (topology.num_groups + 1) / 2.0f;
        for (float w : model) {
          if (std::fabs(w - expected) > 1e-4f * std::fabs(expected)) ++wrong_values;
        }
      }
    }
    hilo.CountStep();  // for the status endpoint and hilorun --progress
    const int report_every = absl::GetFlag(FLAGS_report_every);
    if (leader && report_every > 0 && (step + 1) % report_every == 0) {
      const double window_s = absl::ToDoubleSeconds(absl::Now() - window_start);
      std::printf("  step %4d/%d  %7.1f steps/s  %8.1f MiB/s allreduced per rank\n", step + 1,
                  steps, report_every / window_s,
                  report_every * (group_bytes + world_bytes) / 1048576.0 / window_s);
      std::fflush(stdout);
      window_start = absl::Now();
    }
  }
  const double elapsed_s = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t group_traffic = hilo.TransportCounters(hilo::CommunicatorKind::kGroup)->bytes;
  const int64_t cross_traffic = hilo.TransportCounters(hilo::CommunicatorKind::kCross)->bytes;
  const int64_t world_traffic = hilo.TransportCounters(hilo::CommunicatorKind::kWorld)->bytes;

  // Every rank's verdict, gathered with hilo itself.
  int64_t failures[2] = {wrong_values, first_error.empty() ? 0 : 1};
  int failed_ranks_total = 0;
  int64_t wrong_total = 0;
  absl::StatusOr<hilo::Handle> verdict =
      hilo.Allreduce("demo/verdict", {failures, hilo::DataType::kInt64, {2}});
  if (!first_error.empty()) {
    std::fprintf(stderr, "hilo_demo rank %d: %s\n", topology.world_rank, first_error.c_str());
  }
  if (verdict.ok() && verdict->Wait(timeout).ok()) {
    wrong_total = failures[0];
    failed_ranks_total = static_cast<int>(failures[1]);
  } else {
    failed_ranks_total = -1;
  }
  const absl::Status shutdown = hilo.Shutdown();

  if (leader) {
    const double operations = static_cast<double>(steps) * num_tensors;
    std::printf("\n%-34s %s\n", "layout", absl::StrFormat("%d ranks = %d groups x %d", topology.world_size,
                                                         topology.num_groups, topology.group_size).c_str());
    std::printf("%-34s %d x %d tensors (%s to %s float32 elements)\n", "steps x tensors", steps,
                num_tensors, absl::StrCat(min_elements).c_str(), absl::StrCat(max_elements).c_str());
    std::printf("%-34s %.2f s\n", "wall time", elapsed_s);
    std::printf("%-34s %.1f\n", "steps per second", steps / elapsed_s);
    std::printf("%-34s %.0f\n", "allreduces per second (per rank)", operations / elapsed_s);
    std::printf("%-34s %.1f MiB/s (group %.1f, world %.1f)\n", "payload allreduced per rank",
                steps * (group_bytes + world_bytes) / 1048576.0 / elapsed_s,
                steps * group_bytes / 1048576.0 / elapsed_s, steps * world_bytes / 1048576.0 / elapsed_s);
    std::printf("%-34s %d (every %d steps, %lld parameters), last discrepancy D = %.3g\n",
                "cross-group averaging rounds", rounds, tau,
                static_cast<long long>(model.size()), last_discrepancy);
    std::printf("%-34s group %.1f MiB, cross %.1f MiB, world %.1f MiB\n",
                "bytes handed to the transport (rank 0)", group_traffic / 1048576.0,
                cross_traffic / 1048576.0, world_traffic / 1048576.0);
    if (failed_ranks_total == 0 && wrong_total == 0) {
      std::printf("%-34s all %.0f allreduce results and %d averaged models on every rank match "
                  "the reference\n", "check", operations, rounds);
    } else {
      std::printf("%-34s FAILED: %lld wrong values, %d ranks with errors\n", "check",
                  static_cast<long long>(wrong_total), failed_ranks_total);
    }
  }
  if (!shutdown.ok()) {
    std::fprintf(stderr, "hilo_demo: shutdown: %s\n", shutdown.ToString().c_str());
    return 1;
  }
  return failed_ranks_total == 0 && wrong_total == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Run();
}
