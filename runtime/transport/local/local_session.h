// Threads of one process as the ranks of a job: each thread's LocalSession makes communicators
// with the others' the way an MPI session does (the world; splits by color and key), so the whole
// runtime — negotiation, cache, fusion, join, stalls, averaging, shutdown — runs in a unit test.
//
//   LocalJobSessions job(/*world_size=*/4, /*ranks_per_node=*/4);
//   // thread r: Runtime::Start(config, [&] { return job.SessionFor(r); });
//
// Each session is used by its own thread; the shared rendezvous is synchronized internally.
#ifndef HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_SESSION_H_
#define HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_SESSION_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/transport/local/local_communicator.h"
#include "runtime/transport/session.h"

namespace hilo::transport {

class LocalJobSessions {
 public:
  // A job of `world_size` ranks, `ranks_per_node` to a (pretend) machine, in rank order.
  LocalJobSessions(int world_size, int ranks_per_node);

  // Rank `rank`'s session. Any number of times; every session of a rank shares its split count.
  std::unique_ptr<Session> SessionFor(int rank);

  int world_size() const { return world_size_; }
  int ranks_per_node() const { return ranks_per_node_; }

  // The `sequence`-th split of rank `rank` (collective over every rank): its member of the
  // communicator of the ranks that passed `color`, ordered by key, then rank.
  std::unique_ptr<LocalCommunicator> Split(int rank, int64_t sequence, int color, int key,
                                           const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // One collective split: who arrived with which (color, key), then each rank's communicator.
  struct SplitRound {
    std::vector<std::pair<int, int>> arrivals;  // (color, key) by rank
    int arrived = 0;
    std::vector<std::unique_ptr<LocalCommunicator>> made;  // by rank, once everyone arrived
    int taken = 0;
  };
  void Make(SplitRound& round, const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int world_size_;
  const int ranks_per_node_;
  absl::Mutex mu_;
  std::map<int64_t, SplitRound> rounds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_LOCAL_LOCAL_SESSION_H_
