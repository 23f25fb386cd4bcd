#include "runtime/averaging/local_sgd_schedule.h"

#include "absl/strings/str_cat.h"

namespace hilo {

absl::StatusOr<LocalSgdSchedule> LocalSgdSchedule::Create(int tau, int64_t warmup_steps,
                                                          const Topology& topology) {
  if (tau < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("averaging period tau must be at least 1 step, got ", tau));
  }
  if (warmup_steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("warm-up steps must be >= 0, got ", warmup_steps));
  }
  return LocalSgdSchedule(tau, warmup_steps, topology.num_groups, topology.group_size);
}

LocalSgdStep LocalSgdSchedule::Step(int64_t step) const {
  LocalSgdStep plan;
  if (step < warmup_steps_) {
    // Synchronous over everybody: all models stay identical, so nothing to average afterwards.
    plan.warmup = true;
    plan.allreduce_gradients = true;
    plan.gradient_communicator = CommunicatorKind::kWorld;
    return plan;
  }
  plan.allreduce_gradients = group_size_ > 1;
  plan.gradient_communicator = CommunicatorKind::kGroup;
  plan.average_model = num_groups_ > 1 && (step - warmup_steps_ + 1) % tau_ == 0;
  return plan;
}

}  // namespace hilo
