// What a hierarchical local-SGD training loop does at each step.
//
//   steps [0, warmup_steps)        fully synchronous: average gradients over the world
//   afterwards, every step         average gradients over the group (fast links)
//   every tau-th step after that   also average the model across groups (slow links), after
//                                   the optimizer update
//
// Plain synchronous SGD (one group of P ranks) and plain local SGD (P groups of one) are the two
// extremes of the same rule: with one group there is nothing to average across groups; with
// groups of one there are no gradients to exchange inside a group.
//
//   absl::StatusOr<LocalSgdSchedule> schedule = LocalSgdSchedule::Create(8, 100, topology);
//   for (int64_t step = 0; ; ++step) {
//     LocalSgdStep plan = schedule->Step(step);
//     backward(); if (plan.allreduce_gradients) allreduce_average(grads, plan.gradient_communicator);
//     optimizer.step(); if (plan.average_model) hilo.AverageAcrossGroups("model", params);
//   }
//
// Pure value type; thread-safe.
#ifndef HILO_RUNTIME_AVERAGING_LOCAL_SGD_SCHEDULE_H_
#define HILO_RUNTIME_AVERAGING_LOCAL_SGD_SCHEDULE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "runtime/topology.h"

namespace hilo {

struct LocalSgdStep {
  bool warmup = false;
  // Whether this step's gradients must be averaged at all (false only for groups of one after
  // warm-up), and over which communicator.
  bool allreduce_gradients = true;
  CommunicatorKind gradient_communicator = CommunicatorKind::kWorld;
  // Run a cross-group averaging round after this step's update.
  bool average_model = false;
};

class LocalSgdSchedule {
 public:
  // tau >= 1 steps between averaging rounds; warmup_steps >= 0. INVALID_ARGUMENT otherwise.
  static absl::StatusOr<LocalSgdSchedule> Create(int tau, int64_t warmup_steps,
                                                 const Topology& topology);

  // The plan for step `step` (0-based). Steps before 0 are treated as warm-up.
  LocalSgdStep Step(int64_t step) const;

  int tau() const { return tau_; }
  int64_t warmup_steps() const { return warmup_steps_; }

 private:
  LocalSgdSchedule(int tau, int64_t warmup_steps, int num_groups, int group_size)
      : tau_(tau), warmup_steps_(warmup_steps), num_groups_(num_groups), group_size_(group_size) {}

  int tau_;
  int64_t warmup_steps_;
  int num_groups_;
  int group_size_;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_AVERAGING_LOCAL_SGD_SCHEDULE_H_
