#include "runtime/negotiation/response_cache.h"

#include <algorithm>

#include "runtime/ops/collective_op.h"

namespace hilo {

ResponseCache::ResponseCache(int capacity) : capacity_(std::max(0, capacity)) {
  slots_.resize(capacity_);
}

bool ResponseCache::Cacheable(const proto::Request& request) {
  const CollectiveOp* op = FindOp(request.collective());
  return op != nullptr && op->cacheable();
}

bool ResponseCache::Cacheable(const proto::Response& response) {
  const CollectiveOp* op = FindOp(response.collective());
  return !response.error() && op != nullptr && op->cacheable();
}

bool ResponseCache::SameSignature(const proto::Request& a, const proto::Request& b) {
  if (a.tensor_name() != b.tensor_name() || a.collective() != b.collective() ||
      a.dtype() != b.dtype() || a.reduce_op() != b.reduce_op() ||
      a.device_memory() != b.device_memory() ||
      a.root_rank() != b.root_rank() ||
      !std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end()) ||
      a.algorithm() != b.algorithm() ||
      a.check_group_consistency() != b.check_group_consistency()) {
    return false;
  }
  return SameParameters(a, b);
}

std::optional<int> ResponseCache::Find(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

int ResponseCache::Put(const proto::Request& signature, proto::Response response) {
  int slot;
  if (std::optional<int> existing = Find(signature.tensor_name())) {
    slot = *existing;
  } else {
    // The lowest free slot, else the least recently used one: the same choice on every rank.
    auto free = std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.valid; });
    if (free != slots_.end()) {
      slot = static_cast<int>(free - slots_.begin());
    } else {
      slot = static_cast<int>(
          std::min_element(slots_.begin(), slots_.end(),
                           [](const Slot& a, const Slot& b) { return a.last_used < b.last_used; }) -
          slots_.begin());
      by_name_.erase(slots_[slot].name);
    }
    by_name_[signature.tensor_name()] = slot;
  }
  Slot& target = slots_[slot];
  target.valid = true;
  target.name = signature.tensor_name();
  target.signature = signature;
  target.response = std::move(response);
  target.last_used = ++clock_;
  return slot;
}

void ResponseCache::Touch(int slot) { slots_[slot].last_used = ++clock_; }

void ResponseCache::Erase(int slot) {
  if (!slots_[slot].valid) return;
  by_name_.erase(slots_[slot].name);
  slots_[slot] = Slot();
}

}  // namespace hilo
