#include "runtime/negotiation/controller.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status_macros.h"
#include "runtime/negotiation/fusion.h"

namespace hilo {
namespace {

constexpr int kBitsPerWord = 64;
// Flag bits of the last word. Flags and invalidations are ORs across ranks, carried inverted so
// that the same bitwise AND computes them.
constexpr uint64_t kHasUncachedWork = 1;
constexpr uint64_t kWantsShutdown = 2;
constexpr uint64_t kAborts = 4;
constexpr uint64_t kJoined = 8;

int WordsPerSet(int capacity) { return (capacity + kBitsPerWord - 1) / kBitsPerWord; }

// The single-tensor response for tensor `index` of a (possibly fused) response.
proto::Response SingleResponse(const proto::Response& response, int index) {
  proto::Response single;
  single.set_collective(response.collective());
  single.add_tensor_names(response.tensor_names(index));
  single.set_dtype(response.dtype());
  single.set_reduce_op(response.reduce_op());
  single.set_root_rank(response.root_rank());
  single.set_algorithm(response.algorithm());
  single.set_check_group_consistency(response.check_group_consistency());
  single.set_device_memory(response.device_memory());
  if (index < response.tensor_sizes_size()) single.add_tensor_sizes(response.tensor_sizes(index));
  return single;
}

}  // namespace

Controller::Controller(transport::ControlChannel* channel, std::string communicator_name,
                       int world_rank, int64_t fusion_threshold_bytes, int cache_capacity,
                       Clock& clock)
    : channel_(channel),
      communicator_name_(std::move(communicator_name)),
      world_rank_(world_rank),
      clock_(clock),
      fusion_threshold_bytes_(fusion_threshold_bytes),
      table_(channel->size(), communicator_name_),
      cache_(cache_capacity) {}

int Controller::agreement_words() const {
  return 2 * WordsPerSet(cache_.capacity()) + 1;
}

void Controller::BeginCycle(std::vector<proto::Request> new_requests, bool request_shutdown,
                            absl::Span<uint64_t> agreement, bool joined) {
  // Sort this cycle's requests: cache candidates become bits, the rest take the full path.
  const absl::Time now = clock_.Now();
  uncached_ = std::move(deferred_);
  deferred_.clear();
  std::vector<int> invalidated;
  for (proto::Request& request : new_requests) {
    const std::optional<int> slot =
        cache_.enabled() && ResponseCache::Cacheable(request) ? cache_.Find(request.tensor_name())
                                                             : std::nullopt;
    if (slot && ResponseCache::SameSignature(cache_.signature(*slot), request)) {
      pending_hits_[*slot] = PendingHit{std::move(request), now};
      continue;
    }
    if (slot) invalidated.push_back(*slot);  // same name, new shape/dtype/op: everyone drops it
    uncached_.push_back(std::move(request));
  }
  request_shutdown_ = request_shutdown;
  joined_ = joined;
  // A hit that has waited long for the others goes the full way, where the coordinator sees who
  // has not submitted it: invalidating its slot sends every rank's hit on it there.
  for (const auto& [slot, hit] : pending_hits_) {
    if (now - hit.since >= stall_warning_ / 2) invalidated.push_back(slot);
  }

  // [hit bits | inverted invalidation bits | inverted flags].
  const int words_per_set = WordsPerSet(cache_.capacity());
  std::fill(agreement.begin(), agreement.begin() + words_per_set, 0);
  std::fill(agreement.begin() + words_per_set, agreement.end(), ~uint64_t{0});
  for (const auto& [slot, unused_hit] : pending_hits_) {
    agreement[slot / kBitsPerWord] |= uint64_t{1} << (slot % kBitsPerWord);
  }
  for (int slot : invalidated) {
    agreement[words_per_set + slot / kBitsPerWord] &= ~(uint64_t{1} << (slot % kBitsPerWord));
  }
  if (!uncached_.empty()) agreement.back() &= ~kHasUncachedWork;
  if (request_shutdown) agreement.back() &= ~kWantsShutdown;
  if (joined) agreement.back() &= ~kJoined;
}

absl::StatusOr<proto::ResponseList> Controller::FinishCycle(absl::Span<const uint64_t> agreed) {
  const absl::Time now = clock_.Now();
  std::vector<proto::Request> uncached = std::move(uncached_);
  uncached_.clear();
  const bool anyone_uncached = (agreed.back() & kHasUncachedWork) == 0;
  const bool anyone_shutdown = (agreed.back() & kWantsShutdown) == 0;
  const bool anyone_joined = (agreed.back() & kJoined) == 0;
  const bool any_invalidated = DropInvalidated(agreed, now, uncached);
  proto::ResponseList result;
  for (proto::Response& response :
       PlanFusion(ReplayReadyHits(agreed), fusion_threshold_bytes_)) {
    *result.add_responses() = std::move(response);
  }
  // A rank that asks to shut down has finished: it will submit nothing more. Hits still waiting
  // go the full way, so that the coordinator sees which of them a finished rank never submitted
  // and fails them at once instead of letting the others wait for it forever. Every rank sees
  // the same flag and sends its own; hits that complete are cached again from the full path.
  // The same while anyone has joined: a joined rank announces no hits, so the coordinator must
  // see the others' requests to run them with its zeros.
  if (anyone_shutdown || anyone_joined) {
    for (auto& [slot, hit] : pending_hits_) uncached.push_back(LeaveCachedPath(std::move(hit), now));
    pending_hits_.clear();
  }
  // The full path only when some rank needs it: every rank of this communicator sees the same
  // agreed flags, so they all take it or all skip it.
  if (anyone_uncached || anyone_shutdown || anyone_joined || any_invalidated) {
    HILO_RETURN_IF_ERROR(RunFullPath(std::move(uncached), anyone_joined, result));
  }
  return result;
}

bool Controller::DropInvalidated(absl::Span<const uint64_t> agreed, absl::Time now,
                                 std::vector<proto::Request>& uncached) {
  // The same set on every rank: a hit waiting on a dropped slot goes the full way now, where the
  // coordinator will compare it with the changed request.
  const int words_per_set = WordsPerSet(cache_.capacity());
  bool any_invalidated = false;
  for (int word = 0; word < words_per_set; ++word) {
    for (uint64_t bits = ~agreed[words_per_set + word]; bits != 0; bits &= bits - 1) {
      const int slot = word * kBitsPerWord + __builtin_ctzll(bits);
      if (slot >= cache_.capacity()) break;
      any_invalidated = true;
      auto pending = pending_hits_.find(slot);
      if (pending != pending_hits_.end()) {
        uncached.push_back(LeaveCachedPath(std::move(pending->second), now));
        pending_hits_.erase(pending);
      }
      cache_.Erase(slot);
    }
  }
  return any_invalidated;
}

std::vector<proto::Response> Controller::ReplayReadyHits(absl::Span<const uint64_t> agreed) {
  const int words_per_set = WordsPerSet(cache_.capacity());
  std::vector<proto::Response> replayed;
  for (int word = 0; word < words_per_set; ++word) {
    for (uint64_t bits = agreed[word]; bits != 0; bits &= bits - 1) {
      const int slot = word * kBitsPerWord + __builtin_ctzll(bits);
      replayed.push_back(cache_.response(slot));
      cache_.Touch(slot);
      pending_hits_.erase(slot);
      hits_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return replayed;
}

absl::Status Controller::RunFullPath(std::vector<proto::Request> uncached, bool anyone_joined,
                                     proto::ResponseList& result) {
  for (const proto::Request& request : uncached) {
    if (!ResponseCache::Cacheable(request)) continue;
    misses_.fetch_add(1, std::memory_order_relaxed);
    if (cache_.enabled()) reported_[request.tensor_name()] = request;
  }
  HILO_ASSIGN_OR_RETURN(proto::ResponseList full,
                        FullNegotiation(std::move(uncached), request_shutdown_, joined_));
  RememberAgreed(full, /*cache_new=*/!anyone_joined);
  for (proto::Response& response : *full.mutable_responses()) {
    *result.add_responses() = std::move(response);
  }
  result.set_shutdown(full.shutdown());
  result.set_shutdown_requested_by(full.shutdown_requested_by());
  result.set_join_complete(full.join_complete());
  result.set_last_joined_rank(full.last_joined_rank());
  return absl::OkStatus();
}

absl::StatusOr<proto::ResponseList> Controller::Negotiate(std::vector<proto::Request> new_requests,
                                                          bool request_shutdown, bool joined) {
  std::vector<uint64_t> agreement(agreement_words());
  BeginCycle(std::move(new_requests), request_shutdown, absl::MakeSpan(agreement), joined);
  HILO_RETURN_IF_ERROR(channel_->AllreduceBitwiseAnd(absl::MakeSpan(agreement)));
  return FinishCycle(agreement);
}

proto::Request Controller::LeaveCachedPath(PendingHit hit, absl::Time now) const {
  hit.request.set_waiting_us(absl::ToInt64Microseconds(now - hit.since));
  return std::move(hit.request);
}

std::vector<StallReport> Controller::StalledTensors(absl::Time now,
                                                    absl::Duration at_least) const {
  std::vector<StallReport> stalled;
  if (!is_coordinator()) return stalled;
  for (ReadinessTable::Stalled& tensor : table_.StalledSince(now, at_least)) {
    StallReport report{communicator_name_, std::move(tensor.name), tensor.waiting,
                       std::move(tensor.reported_world_ranks), {}};
    for (int rank : tensor.missing_communicator_ranks) {
      report.missing.push_back(rank < static_cast<int>(member_world_ranks_.size())
                                   ? member_world_ranks_[rank]
                                   : rank);
    }
    stalled.push_back(std::move(report));
  }
  return stalled;
}

void Controller::RaiseAbort(absl::Span<uint64_t> agreement) { agreement.back() &= ~kAborts; }

bool Controller::AnyoneAborts(absl::Span<const uint64_t> agreed) {
  return (agreed.back() & kAborts) == 0;
}

void Controller::RememberAgreed(const proto::ResponseList& agreed, bool cache_new) {
  for (const proto::Response& response : agreed.responses()) {
    const bool cache_it = ResponseCache::Cacheable(response);
    for (int i = 0; i < response.tensor_names_size(); ++i) {
      const std::string& name = response.tensor_names(i);
      auto reported = reported_.find(name);
      if (cache_it && cache_new && reported != reported_.end()) {
        cache_.Put(reported->second, SingleResponse(response, i));
      } else if (response.error()) {
        if (std::optional<int> slot = cache_.Find(name)) cache_.Erase(*slot);
      }
      if (reported != reported_.end()) reported_.erase(reported);
    }
  }
  // A Put may have given a waiting hit's slot to another tensor: that hit takes the full path.
  for (auto it = pending_hits_.begin(); it != pending_hits_.end();) {
    const std::optional<int> slot = cache_.Find(it->second.request.tensor_name());
    if (slot == it->first) {
      ++it;
      continue;
    }
    deferred_.push_back(LeaveCachedPath(std::move(it->second), clock_.Now()));
    it = pending_hits_.erase(it);
  }
}

absl::StatusOr<std::string> Controller::Decide(const std::vector<std::string>& gathered) {
  proto::ResponseList responses;
  // Shutdown is collective: the job stops once every rank has asked (a rank that finished
  // early must not cut off the others' last collectives). shutdown_requested_by is the
  // lowest rank asking.
  bool everyone_asked = true;
  int first_to_ask = -1;
  std::vector<int> finished_world_ranks(gathered.size(), -1);
  std::vector<bool> joined_ranks(gathered.size(), false);
  bool everyone_joined = true;
  for (size_t rank = 0; rank < gathered.size(); ++rank) {
    proto::RequestList list;
    if (!list.ParseFromString(gathered[rank])) {
      return absl::InternalError(absl::StrCat("coordinator of ", communicator_name_,
                                              " could not parse the RequestList of rank ", rank));
    }
    everyone_asked = everyone_asked && list.shutdown();
    if (list.shutdown() && first_to_ask < 0) first_to_ask = list.world_rank();
    if (list.shutdown()) finished_world_ranks[rank] = list.world_rank();
    joined_ranks[rank] = list.joined();
    // A rank that finished (shut down) has no more data either: a join does not wait for it.
    everyone_joined = everyone_joined && (list.joined() || list.shutdown());
    if (list.joined() && std::find(join_order_.begin(), join_order_.end(), list.world_rank()) ==
                             join_order_.end()) {
      join_order_.push_back(list.world_rank());
    }
    for (proto::Request& request : *list.mutable_requests()) {
      request.set_communicator_rank(static_cast<int>(rank));
      HILO_RETURN_IF_ERROR(table_.Add(std::move(request), clock_.Now()));
    }
  }
  for (proto::Response& response : PlanFusion(table_.TakeReady(), fusion_threshold_bytes_)) {
    *responses.add_responses() = std::move(response);
  }
  for (proto::Response& response :
       PlanFusion(table_.TakeReadyWithJoined(joined_ranks), fusion_threshold_bytes_)) {
    *responses.add_responses() = std::move(response);
  }
  for (proto::Response& response : table_.TakeUnsatisfiable(finished_world_ranks)) {
    *responses.add_responses() = std::move(response);
  }
  if (everyone_joined && !join_order_.empty()) {
    responses.set_join_complete(true);
    responses.set_last_joined_rank(join_order_.back());
    join_order_.clear();
  }
  if (everyone_asked) {
    responses.set_shutdown(true);
    responses.set_shutdown_requested_by(first_to_ask);
  }
  std::string reply;
  if (!responses.SerializeToString(&reply)) {
    return absl::InternalError("could not serialize a ResponseList");
  }
  return reply;
}

absl::StatusOr<proto::ResponseList> Controller::FullNegotiation(
    std::vector<proto::Request> requests, bool request_shutdown, bool joined) {
  proto::RequestList mine;
  for (proto::Request& request : requests) *mine.add_requests() = std::move(request);
  mine.set_shutdown(request_shutdown);
  mine.set_joined(joined);
  mine.set_world_rank(world_rank_);
  std::string serialized;
  if (!mine.SerializeToString(&serialized)) {
    return absl::InternalError("could not serialize a RequestList");
  }
  HILO_ASSIGN_OR_RETURN(std::vector<std::string> gathered, channel_->GatherToRoot(serialized));

  std::string reply;
  if (is_coordinator()) {
    HILO_ASSIGN_OR_RETURN(reply, Decide(gathered));
  }
  HILO_RETURN_IF_ERROR(channel_->BroadcastFromRoot(&reply));
  proto::ResponseList result;
  if (!result.ParseFromString(reply)) {
    return absl::InternalError(
        absl::StrCat("could not parse the ResponseList broadcast on ", communicator_name_));
  }
  return result;
}

}  // namespace hilo
