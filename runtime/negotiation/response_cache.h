// The response cache: what a communicator's ranks have already agreed about, by position.
//
// Training submits the same tensors every step. Once a tensor's response has been agreed, every
// rank stores it in the same slot (slots are assigned while processing the agreed response list,
// which is identical on every rank, so the caches stay identical too). A later step that submits
// the same name with the same signature only needs to announce "slot s is ready here": the
// Controller ANDs those bits across ranks in one small allreduce and replays the cached responses
// of the slots every rank has set, without the coordinator's gather and broadcast.
//
// LRU with a fixed capacity (HILO_CACHE_CAPACITY; 0 disables): a new entry takes the lowest free
// slot, or else the least recently used one. Use counts advance only while processing agreed
// lists, in list order, so eviction is the same on every rank. Not thread-safe: owned by the
// coordinator thread's Controller.
#ifndef HILO_RUNTIME_NEGOTIATION_RESPONSE_CACHE_H_
#define HILO_RUNTIME_NEGOTIATION_RESPONSE_CACHE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proto/negotiation.pb.h"

namespace hilo {

class ResponseCache {
 public:
  explicit ResponseCache(int capacity);

  int capacity() const { return capacity_; }
  bool enabled() const { return capacity_ > 0; }

  // Whether a request can be served from the cache at all, and whether an agreed response is
  // kept in it: its collective's op says (CollectiveOp::cacheable; not allgather, whose response
  // carries per-step data, its ranks' first dimensions), and never an error.
  static bool Cacheable(const proto::Request& request);
  static bool Cacheable(const proto::Response& response);
  // Whether two requests of the same name ask for the same thing.
  static bool SameSignature(const proto::Request& a, const proto::Request& b);

  // The slot holding `name`, if any.
  std::optional<int> Find(const std::string& name) const;
  const proto::Request& signature(int slot) const { return slots_[slot].signature; }
  const proto::Response& response(int slot) const { return slots_[slot].response; }
  const std::string& name(int slot) const { return slots_[slot].name; }

  // Stores (or refreshes) the agreed `response` for a single tensor with this rank's `signature`.
  // Returns the slot. Call in agreed-list order only.
  int Put(const proto::Request& signature, proto::Response response);
  // Marks a slot used (a replayed hit). Call in agreed-list order only.
  void Touch(int slot);
  void Erase(int slot);

  int size() const { return static_cast<int>(by_name_.size()); }

 private:
  struct Slot {
    bool valid = false;
    std::string name;
    proto::Request signature;
    proto::Response response;
    uint64_t last_used = 0;
  };

  const int capacity_;
  std::vector<Slot> slots_;
  absl::flat_hash_map<std::string, int> by_name_;
  uint64_t clock_ = 0;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_RESPONSE_CACHE_H_
