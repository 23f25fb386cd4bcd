// One negotiation round on one communicator (Horovod's controller, over a ControlChannel).
//
// Every rank calls Negotiate() once per cycle with the requests for tensors that became ready on
// it since the previous cycle. Rank 0 of the communicator (the coordinator) gathers all ranks'
// RequestLists, records them in its ReadinessTable, and broadcasts one ResponseList: the tensors
// now ready everywhere, in one order, plus the shutdown decision. Every rank returns that same
// list and executes it in order — that shared order is what keeps collectives from deadlocking
// when ranks enqueue tensors in different orders.
//
// Collective over the channel; owned and called by the coordinator thread only.
#ifndef HILO_RUNTIME_CONTROLLER_H_
#define HILO_RUNTIME_CONTROLLER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/negotiation.pb.h"
#include "runtime/readiness_table.h"
#include "runtime/transport/control_channel.h"

namespace hilo {

class Controller {
 public:
  // `channel` must outlive the controller. `world_rank` is this rank's, for the shutdown record.
  // The coordinator fuses ready allreduces up to `fusion_threshold_bytes` (0: no fusion).
  Controller(transport::ControlChannel* channel, std::string communicator_name, int world_rank,
             int64_t fusion_threshold_bytes = 0);

  absl::StatusOr<proto::ResponseList> Negotiate(std::vector<proto::Request> new_requests,
                                                bool request_shutdown);

  bool is_coordinator() const { return channel_->rank() == 0; }

 private:
  transport::ControlChannel* const channel_;
  const std::string communicator_name_;
  const int world_rank_;
  const int64_t fusion_threshold_bytes_;
  ReadinessTable table_;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_CONTROLLER_H_
