// One negotiation round on one communicator (Horovod's controller, over a ControlChannel).
//
// Every rank calls Negotiate() once per cycle with the requests for tensors that became ready on
// it since the previous cycle, and gets back the same ordered ResponseList as every other rank;
// executing it in order keeps collectives from deadlocking when ranks enqueue in different orders.
// Negotiate() is BeginCycle(), the bitwise-AND allreduce of the agreement words, FinishCycle():
// the runtime calls the two halves itself to merge the agreements of all its communicators into
// one allreduce per cycle (docs/protocol.md).
//
// Two paths (docs/protocol.md):
//  * Cached: a request whose name and signature are in the ResponseCache is only announced as a
//    bit. One bitwise-AND allreduce tells every rank which cached tensors all ranks have ready
//    (their cached responses are replayed, in slot order), which slots some rank invalidated
//    (a changed shape or dtype), and whether anyone has uncached work or wants to shut down.
//  * Full: only when some rank has uncached requests, an invalidation or a shutdown: rank 0 of
//    the communicator (the coordinator) gathers all ranks' RequestLists, records them in its
//    ReadinessTable, fuses what it can, and broadcasts one ResponseList.
// A repeated training step therefore negotiates with one small allreduce.
// Join (hvd.join): a rank with no more data raises a flag every cycle; while anyone does, every
// cycle takes the full path, the coordinator lets allreduces that only joined ranks miss run
// (they contribute zeros) and fails the collectives that need a joined rank's data, nothing new
// is cached, and once every rank has joined the ResponseList says so.
// A rank that asks to shut down has finished and submits nothing more: while anyone asks, every
// rank's waiting hits take the full path, and the coordinator fails each tensor that a finished
// rank never submitted (ERROR responses naming the ranks) instead of letting the others wait.
//
// Collective over the channel; owned and called by the coordinator thread only (cache_stats()
// may be read from any thread).
#ifndef HILO_RUNTIME_NEGOTIATION_CONTROLLER_H_
#define HILO_RUNTIME_NEGOTIATION_CONTROLLER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proto/negotiation.pb.h"
#include "runtime/common/clock.h"
#include "runtime/negotiation/readiness_table.h"
#include "runtime/negotiation/response_cache.h"
#include "runtime/observability/runtime_stats.h"  // CacheStats, AgreementCounts, StallReport
#include "runtime/transport/control_channel.h"

namespace hilo {

class Controller {
 public:
  // `channel` must outlive the controller. `world_rank` is this rank's, for the shutdown record.
  // The coordinator fuses ready allreduces up to `fusion_threshold_bytes` (0: no fusion); the
  // cache holds `cache_capacity` tensors (0: no cache). Both must be equal on all ranks.
  // `clock` (which must outlive the controller) times how long tensors have waited.
  Controller(transport::ControlChannel* channel, std::string communicator_name, int world_rank,
             int64_t fusion_threshold_bytes = 0, int cache_capacity = 0,
             Clock& clock = Clock::System());

  // `joined`: this rank has joined (hvd.join) and not every rank has yet.
  absl::StatusOr<proto::ResponseList> Negotiate(std::vector<proto::Request> new_requests,
                                                bool request_shutdown, bool joined = false);

  // The words this controller contributes to a cycle's bitwise AND (the same on every rank).
  int agreement_words() const;
  // Sorts this cycle's new requests and writes this rank's agreement (agreement_words() words).
  void BeginCycle(std::vector<proto::Request> new_requests, bool request_shutdown,
                  absl::Span<uint64_t> agreement, bool joined = false);
  // Given the AND of every rank's agreement, replays the cached responses all ranks have ready
  // and, if some rank needs it, runs the full negotiation. Every rank of the channel must call
  // it in the same cycle.
  absl::StatusOr<proto::ResponseList> FinishCycle(absl::Span<const uint64_t> agreed);

  bool is_coordinator() const { return channel_->rank() == 0; }

  // The stall inspector. A cache hit that has waited `warning` / 2 for the other ranks is sent
  // the full way (its slot invalidated everywhere), so that the coordinator learns who has not
  // submitted it; StalledTensors() (coordinator only) lists what has waited `at_least`.
  void set_stall_warning(absl::Duration warning) { stall_warning_ = warning; }
  // World ranks of the communicator's members, by communicator rank, for naming missing ranks.
  void set_member_world_ranks(std::vector<int> world_ranks) {
    member_world_ranks_ = std::move(world_ranks);
  }
  std::vector<StallReport> StalledTensors(absl::Time now, absl::Duration at_least) const;

  // A flag every rank can raise in its agreement and every rank sees after the AND: the runtime
  // uses the world's to stop the whole job together (stall shutdown).
  static void RaiseAbort(absl::Span<uint64_t> agreement);
  static bool AnyoneAborts(absl::Span<const uint64_t> agreed);
  CacheStats cache_stats() const { return {hits_.load(), misses_.load()}; }

 private:
  // The gather / decide / broadcast round.
  absl::StatusOr<proto::ResponseList> FullNegotiation(std::vector<proto::Request> requests,
                                                      bool request_shutdown, bool joined);
  // The coordinator's part of it: every rank's serialized RequestList in, the serialized
  // ResponseList to broadcast out.
  absl::StatusOr<std::string> Decide(const std::vector<std::string>& gathered);
  // Updates the cache from an agreed list (same order on every rank), and sends back to the full
  // path any pending hit whose slot no longer holds its tensor.
  // `cache_new`: false while some rank has joined, whose cache would otherwise miss the entries
  // of tensors it never reported (every rank's cache must stay identical).
  void RememberAgreed(const proto::ResponseList& agreed, bool cache_new);
  // FinishCycle's steps. Drops the slots every rank invalidated; a hit waiting on one joins
  // `uncached`. Whether any was.
  bool DropInvalidated(absl::Span<const uint64_t> agreed, absl::Time now,
                       std::vector<proto::Request>& uncached);
  // The cached responses of the hits every rank has ready, in slot order.
  std::vector<proto::Response> ReplayReadyHits(absl::Span<const uint64_t> agreed);
  // The full path for `uncached`; its responses and flags are appended to `result`.
  absl::Status RunFullPath(std::vector<proto::Request> uncached, bool anyone_joined,
                           proto::ResponseList& result);

  transport::ControlChannel* const channel_;
  const std::string communicator_name_;
  const int world_rank_;
  Clock& clock_;
  const int64_t fusion_threshold_bytes_;
  ReadinessTable table_;  // used on the coordinator only
  ResponseCache cache_;
  // This rank's requests sent on the full path and not yet answered: the signatures to cache.
  absl::flat_hash_map<std::string, proto::Request> reported_;
  // Requests waiting for every rank to have their cached slot ready, by slot, and since when.
  struct PendingHit {
    proto::Request request;
    absl::Time since;
  };
  std::map<int, PendingHit> pending_hits_;
  // Takes a pending hit out to the full path, noting how long it has waited.
  proto::Request LeaveCachedPath(PendingHit hit, absl::Time now) const;
  absl::Duration stall_warning_ = absl::Seconds(60);
  std::vector<int> member_world_ranks_;
  // Requests that must take the full path next cycle (their cache slot was reassigned).
  std::vector<proto::Request> deferred_;
  // Between BeginCycle and FinishCycle: this cycle's requests for the full path.
  std::vector<proto::Request> uncached_;
  bool request_shutdown_ = false;
  bool joined_ = false;
  // Coordinator only: world ranks in the order they joined, until every rank has.
  std::vector<int> join_order_;
  std::atomic<int64_t> hits_{0};
  std::atomic<int64_t> misses_{0};
};

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_CONTROLLER_H_
