// The coordinator's record of which ranks have reported which tensors, on one communicator.
//
// Lives on the communicator's rank 0. Each cycle the coordinator Add()s every rank's new
// requests; a tensor is ready once all ranks of the communicator have reported it. TakeReady()
// then checks that the ranks agree on what the tensor is (collective, dtype, shape, reduce op,
// root) and turns each ready tensor into a Response — or, if they disagree, into an ERROR
// response whose message names the ranks and what each submitted. Responses come out in the
// order tensors became ready, which is the order every rank will execute them in.
// Not thread-safe: owned by the coordinator thread.
#ifndef HILO_RUNTIME_NEGOTIATION_READINESS_TABLE_H_
#define HILO_RUNTIME_NEGOTIATION_READINESS_TABLE_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/negotiation.pb.h"

namespace hilo {

class ReadinessTable {
 public:
  // `communicator_name` appears in error messages ("group 1").
  ReadinessTable(int communicator_size, std::string communicator_name);

  // Records a request from request.communicator_rank(). INTERNAL if that rank already reported
  // the same name and it is still pending (a protocol violation), or if the rank is out of range.
  // `now` is when the coordinator received it, by the controller's clock (the stall clock of a
  // tensor starts at its first report); the default, the system's time, is for tests of the
  // table alone.
  absl::Status Add(proto::Request request, absl::Time now = absl::Now());

  // Responses for every tensor all ranks have reported since the last call, in the order they
  // became ready.
  std::vector<proto::Response> TakeReady();

  // A rank that has finished (asked to shut down) submits nothing more, so a tensor that other
  // ranks reported and a finished rank has not can never become ready: waiting for it would
  // hang the job. Removes every such tensor and returns an ERROR response for each (by name),
  // naming the finished ranks without it and the ranks that submitted it.
  // `finished_world_ranks[r]` is the world rank of communicator rank r if r has finished, else
  // -1. Call after TakeReady().
  std::vector<proto::Response> TakeUnsatisfiable(const std::vector<int>& finished_world_ranks);

  // While some ranks have joined (hvd.join: no more data), an allreduce that every other rank
  // has reported is ready: the joined ranks contribute zeros. Returns those responses (built
  // from the reporters' requests, in name order), and an ERROR for every other collective a
  // joined rank has not reported (a broadcast, reducescatter, alltoall or averaging round needs
  // its data), or a device-memory collective (a joined rank holds no device buffer for it). An
  // allgather runs too, the joined ranks contributing no rows (first_dims 0, and row_elements
  // set so that they can take part).
  // `joined[r]` says whether communicator rank r has joined. Call after TakeReady().
  std::vector<proto::Response> TakeReadyWithJoined(const std::vector<bool>& joined);

  // Tensors reported by some ranks but not all.
  size_t pending() const { return entries_.size() - ready_.size(); }

  // Tensors that some ranks reported at least `at_least` before `now` and others have not,
  // oldest first: the stall inspector's view.
  struct Stalled {
    std::string name;
    absl::Duration waiting;
    std::vector<int> reported_world_ranks;        // who submitted it
    std::vector<int> missing_communicator_ranks;  // who has not
  };
  std::vector<Stalled> StalledSince(absl::Time now, absl::Duration at_least) const;

 private:
  struct Entry {
    std::vector<proto::Request> by_rank;  // indexed by communicator rank
    std::vector<bool> reported;
    int reported_count = 0;
    absl::Time first_reported;
  };

  // The names, sorted, of the tensors some ranks have not reported for which `pick` (given the
  // communicator ranks that have not) is true.
  std::vector<std::string> PendingWhereMissing(
      const std::function<bool(const std::vector<int>&)>& pick) const;
  // `requests`: the reporters' requests (all ranks' unless some have joined).
  proto::Response BuildResponse(const std::string& name,
                                const std::vector<proto::Request>& requests) const;
  // What differs across `requests` (one per rank), in order of how fundamental it is: pairs of
  // (what, "rank 0: ..., rank 1: ...") with an empty description where all agree.
  static std::vector<std::pair<std::string, std::string>> DescribeDisagreements(
      const std::vector<proto::Request>& requests);
  // The response every rank runs when all `requests` agree (or an ERROR for what only the set of
  // them shows wrong, such as alltoall splits for another number of ranks).
  void FillAgreedResponse(const std::string& name, const std::vector<proto::Request>& requests,
                          proto::Response& response) const;

  const int communicator_size_;
  const std::string communicator_name_;
  absl::flat_hash_map<std::string, Entry> entries_;
  std::vector<std::string> ready_;  // names complete since the last TakeReady, in order
};

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_READINESS_TABLE_H_
