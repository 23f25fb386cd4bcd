// A whole hierarchical local-SGD training loop through the C ABI, on a problem with a known
// optimum: rank r minimizes f_r(w) = 0.5 * ||w - c_r||^2, so the job's optimum is the mean of the
// c_r. Each step follows hilo_local_sgd_step: gradients averaged over the world (warm-up) or the
// group, the update, and every tau steps a cross-group averaging round.
//
// Checked on every step and every rank: members of a group hold identical parameters after every
// update; all ranks hold identical parameters right after every averaging round (the same code
// path covers synchronous SGD with one group and plain local SGD with groups of one); the
// discrepancy history has one entry per round; and the model ends near the optimum.
//   local_sgd_training_mpi_test TAU WARMUP_STEPS STEPS
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "client/hilo.h"
#include "tests/mpi/rank_checks.h"

namespace {

using hilo::testing::RankChecks;

constexpr int kDim = 1000;

bool Wait(hilo_handle_t* handle, RankChecks& checks, const std::string& what) {
  const hilo_status_t status = hilo_wait(handle, 120.0);
  checks.Check(status == HILO_OK,
               what + ": " + hilo_status_name(status) + " " + hilo_handle_message(handle));
  return status == HILO_OK;
}

// True when every rank of `communicator` holds exactly `w` (gathers everyone's copy).
bool AllHoldTheSame(hilo_context_t* context, hilo_communicator_t communicator,
                    const std::vector<float>& w, const std::string& name, RankChecks& checks) {
  hilo_collective_options_t options;
  hilo_collective_options_init(&options);
  options.communicator = communicator;
  int64_t shape[1] = {kDim};
  hilo_handle_t* handle = nullptr;
  if (hilo_allgather_async(context, name.c_str(), w.data(), HILO_FLOAT32, 1, shape, &options,
                           &handle) != HILO_OK) {
    checks.Check(false, "allgather enqueue: " + std::string(hilo_last_error()));
    return false;
  }
  bool same = Wait(handle, checks, name);
  const void* data = nullptr;
  size_t bytes = 0;
  if (same && hilo_handle_output(handle, &data, &bytes, nullptr, nullptr) == HILO_OK) {
    const float* all = static_cast<const float*>(data);
    for (size_t member = 0; member < bytes / sizeof(float) / kDim; ++member) {
      same = same && std::memcmp(all + member * kDim, w.data(), kDim * sizeof(float)) == 0;
    }
  }
  hilo_handle_free(handle);
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  RankChecks checks;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s TAU WARMUP_STEPS STEPS\n", argv[0]);
    return 2;
  }
  const int tau = std::atoi(argv[1]);
  const int64_t warmup = std::atoll(argv[2]);
  const int64_t steps = std::atoll(argv[3]);
  hilo_context_t* context = nullptr;
  if (hilo_init(&context) != HILO_OK) {
    std::fprintf(stderr, "hilo_init: %s\n", hilo_last_error());
    return 1;
  }
  int rank = 0, size = 0, groups = 0, group_size = 0;
  hilo_rank(context, &rank);
  checks.set_rank(rank);
  hilo_size(context, &size);
  hilo_num_groups(context, &groups);
  hilo_group_size(context, &group_size);

  // c_r[i] = sin(r + i); the optimum is their mean over ranks.
  std::vector<float> w(kDim, 0.0f), target(kDim), gradient(kDim);
  std::vector<double> optimum(kDim, 0.0);
  for (int i = 0; i < kDim; ++i) {
    target[i] = static_cast<float>(std::sin(rank + i));
    for (int r = 0; r < size; ++r) optimum[i] += std::sin(r + i) / size;
  }
  const float learning_rate = 0.05f;
  int rounds = 0;
  for (int64_t step = 0; step < steps && checks.ok(); ++step) {
    hilo_local_sgd_step_t plan;
    if (hilo_local_sgd_step(context, tau, warmup, step, &plan) != HILO_OK) {
      checks.Check(false, std::string("schedule: ") + hilo_last_error());
      break;
    }
    for (int i = 0; i < kDim; ++i) gradient[i] = w[i] - target[i];
    if (plan.allreduce_gradients) {
      hilo_collective_options_t options;
      hilo_collective_options_init(&options);
      options.communicator = plan.gradient_communicator;
      options.reduce_op = HILO_AVERAGE;
      int64_t shape[1] = {kDim};
      hilo_handle_t* handle = nullptr;
      checks.Check(hilo_allreduce_async(context, "grad", gradient.data(), HILO_FLOAT32, 1, shape,
                                        &options, &handle) == HILO_OK,
                   "gradient enqueue");
      Wait(handle, checks, "gradient allreduce");
      hilo_handle_free(handle);
    }
    for (int i = 0; i < kDim; ++i) w[i] -= learning_rate * gradient[i];
    checks.Check(AllHoldTheSame(context, HILO_COMM_GROUP, w, "check.group", checks),
                 "group members identical after step " + std::to_string(step));
    if (plan.average_model) {
      hilo_parameter_t parameter = {w.data(), HILO_FLOAT32, kDim};
      hilo_handle_t* handle = nullptr;
      checks.Check(hilo_average_across_groups_async(context, "model", &parameter, 1, nullptr,
                                                    &handle) == HILO_OK,
                   "averaging enqueue");
      if (Wait(handle, checks, "averaging round")) {
        double discrepancy = -1;
        checks.Check(hilo_handle_discrepancy(handle, &discrepancy) == HILO_OK && discrepancy >= 0,
                     "round discrepancy");
        // Groups of one at step 0 start identical; later rounds see drifted models.
        checks.Check(groups == 1 || step < warmup + tau || discrepancy > 0, "positive discrepancy");
      }
      hilo_handle_free(handle);
      ++rounds;
      checks.Check(AllHoldTheSame(context, HILO_COMM_WORLD, w, "check.world", checks),
                   "all ranks identical after the round at step " + std::to_string(step));
    }
  }
  int available = -1;
  hilo_discrepancy_history(context, nullptr, 0, &available);
  checks.Check(available == rounds, "one history entry per round");
  // Finish with a round so that every rank holds the job's model, then compare to the optimum.
  hilo_parameter_t parameter = {w.data(), HILO_FLOAT32, kDim};
  hilo_handle_t* handle = nullptr;
  hilo_average_across_groups_async(context, "model.final", &parameter, 1, nullptr, &handle);
  Wait(handle, checks, "final round");
  hilo_handle_free(handle);
  double error = 0;
  for (int i = 0; i < kDim; ++i) error = std::fmax(error, std::fabs(w[i] - optimum[i]));
  checks.Check(error < 0.02, "model within 0.02 of the optimum, off by " + std::to_string(error));
  if (rank == 0) {
    std::printf(
        "%d groups x %d, tau %d, warm-up %lld, %lld steps: %d averaging rounds, max error "
        "%.2e, %s\n",
        groups, group_size, tau, static_cast<long long>(warmup), static_cast<long long>(steps),
        rounds, error, checks.ok() ? "OK" : "FAILED");
  }
  hilo_shutdown(context);
  hilo_context_free(context);
  return checks.ExitStatus();
}
