#include "runtime/negotiation/response_cache.h"

#include <algorithm>

namespace hilo {

ResponseCache::ResponseCache(int capacity) : capacity_(std::max(0, capacity)) {
  slots_.resize(capacity_);
}

bool ResponseCache::Cacheable(const proto::Request& request) {
  // Not allgather (its output depends on every rank's first dimension) nor alltoall (its splits,
  // outside the signature, may change from step to step).
  return request.collective() == proto::ALLREDUCE || request.collective() == proto::BROADCAST ||
         request.collective() == proto::REDUCESCATTER ||
         request.collective() == proto::AVERAGE_ACROSS_GROUPS;
}

bool ResponseCache::SameSignature(const proto::Request& a, const proto::Request& b) {
  if (a.tensor_name() != b.tensor_name() || a.collective() != b.collective() ||
      a.dtype() != b.dtype() || a.reduce_op() != b.reduce_op() ||
      a.device_memory() != b.device_memory() ||
      a.root_rank() != b.root_rank() ||
      !std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end()) ||
      a.algorithm() != b.algorithm() ||
      a.check_group_consistency() != b.check_group_consistency() ||
      a.parameters_size() != b.parameters_size()) {
    return false;
  }
  for (int i = 0; i < a.parameters_size(); ++i) {
    if (a.parameters(i).dtype() != b.parameters(i).dtype() ||
        a.parameters(i).count() != b.parameters(i).count()) {
      return false;
    }
  }
  return true;
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
