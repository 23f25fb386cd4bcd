// The first thing a job's ranks do together: agree on the topology and on the settings that must
// be equal everywhere, before any communicator beyond the world exists.
//
// One allgather over the world tells every rank each rank's node size (the default group is a
// node, which needs the same number of ranks on every node) and configured group size (which
// must agree); the fusion threshold and the cache capacity ride along, since the fusion plan and
// the cache's bit layout are computed independently on every rank. A second one tells every rank
// whether every other rank can go on: a rank that failed alone and left would strand the others
// in their next collective.
#ifndef HILO_RUNTIME_BOOTSTRAP_H_
#define HILO_RUNTIME_BOOTSTRAP_H_

#include "absl/status/statusor.h"
#include "runtime/common/config.h"
#include "runtime/topology.h"
#include "runtime/transport/communicator.h"

namespace hilo {

// Where this rank is, as the session (MPI) tells it.
struct RankPlacement {
  int world_rank = 0;
  int world_size = 1;
  int local_rank = 0;  // on this machine
  int local_size = 1;
};

// Collective over `world`. Every rank returns the same kind of outcome: its topology, or
// INVALID_ARGUMENT (this rank's own reason, or which ranks failed) on every rank when any fails.
absl::StatusOr<Topology> AgreeOnTopology(transport::Communicator& world,
                                         const RankPlacement& placement,
                                         const RuntimeConfig& config);

}  // namespace hilo

#endif  // HILO_RUNTIME_BOOTSTRAP_H_
