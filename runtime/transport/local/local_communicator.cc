#include "runtime/transport/local/local_communicator.h"

#include "runtime/common/status_macros.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "kernels/reduce.h"

namespace hilo::transport {

struct LocalCommunicator::Shared {
  explicit Shared(int size) : size(size), slots(size, nullptr) {}

  // A reusable barrier: the last rank to arrive advances the generation.
  void Wait() {
    absl::MutexLock lock(&mu);
    const int64_t generation = barrier_generation;
    if (++arrived == size) {
      arrived = 0;
      ++barrier_generation;
      return;
    }
    auto advanced = [this, generation]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return barrier_generation != generation;
    };
    mu.Await(absl::Condition(&advanced));
  }

  const int size;
  absl::Mutex mu;
  int arrived ABSL_GUARDED_BY(mu) = 0;
  int64_t barrier_generation ABSL_GUARDED_BY(mu) = 0;
  // Written by each rank before the first barrier of a collective, read after it.
  std::vector<const void*> slots;
};

std::vector<std::unique_ptr<LocalCommunicator>> LocalCommunicator::CreateGroup(int size,
                                                                               std::string name) {
  auto shared = std::make_shared<Shared>(size);
  std::vector<std::unique_ptr<LocalCommunicator>> ranks;
  for (int r = 0; r < size; ++r) {
    ranks.push_back(std::unique_ptr<LocalCommunicator>(new LocalCommunicator(shared, r, name)));
  }
  return ranks;
}

int LocalCommunicator::size() const { return shared_->size; }

void LocalCommunicator::Exchange(
    const void* mine, const std::function<void(const std::vector<const void*>&)>& consume) {
  shared_->slots[rank_] = mine;
  shared_->Wait();
  consume(shared_->slots);
  shared_->Wait();
}

absl::Status LocalCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
  if (bytes == 0) return Barrier();  // still collective; no memory to touch (data may be null)
  std::vector<char> sum(bytes);
  Exchange(data, [&](const std::vector<const void*>& all) {
    std::memcpy(sum.data(), all[0], bytes);
    for (size_t r = 1; r < all.size(); ++r) kernels::SumInto(sum.data(), all[r], count, dtype);
  });
  std::memcpy(data, sum.data(), bytes);
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllreduceWith(void* data, int64_t count, DataType dtype,
                                              kernels::Reduction op) {
  const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
  if (bytes == 0) return Barrier();  // as in AllreduceSum
  std::vector<char> result(bytes);
  Exchange(data, [&](const std::vector<const void*>& all) {
    std::memcpy(result.data(), all[0], bytes);
    for (size_t r = 1; r < all.size(); ++r) {
      kernels::ReduceInto(result.data(), all[r], count, dtype, op);
    }
  });
  std::memcpy(data, result.data(), bytes);
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Allgather(const void* send, int64_t /*send_count*/, void* recv,
                                          absl::Span<const int64_t> recv_counts, DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Allgather", recv_counts));
  Exchange(send, [&](const std::vector<const void*>& all) {
    char* out = static_cast<char*>(recv);
    for (size_t r = 0; r < all.size(); ++r) {
      const size_t bytes = static_cast<size_t>(recv_counts[r]) * DataTypeSize(dtype);
      if (bytes > 0 && out != all[r]) std::memcpy(out, all[r], bytes);
      out += bytes;
    }
  });
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Alltoall(const void* send, absl::Span<const int64_t> send_counts,
                                         void* recv, absl::Span<const int64_t> recv_counts,
                                         DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Alltoall", send_counts));
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Alltoall", recv_counts));
  // Each rank shares where its data is and how it is split; the receiver finds its block.
  struct Outgoing {
    const char* data;
    absl::Span<const int64_t> counts;
  };
  const Outgoing mine{static_cast<const char*>(send), send_counts};
  const size_t element = DataTypeSize(dtype);
  Exchange(&mine, [&](const std::vector<const void*>& all) {
    char* out = static_cast<char*>(recv);
    for (size_t r = 0; r < all.size(); ++r) {
      const Outgoing& theirs = *static_cast<const Outgoing*>(all[r]);
      int64_t offset = 0;
      for (int j = 0; j < rank_; ++j) offset += theirs.counts[j];
      const size_t bytes = static_cast<size_t>(recv_counts[r]) * element;
      if (bytes > 0) std::memcpy(out, theirs.data + offset * element, bytes);
      out += bytes;
    }
  });
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  HILO_RETURN_IF_ERROR(CheckRoot(*this, root));
  const size_t bytes = static_cast<size_t>(count) * DataTypeSize(dtype);
  Exchange(data, [&](const std::vector<const void*>& all) {
    if (rank_ != root && bytes > 0) std::memcpy(data, all[root], bytes);
  });
  return absl::OkStatus();
}

absl::Status LocalCommunicator::ReduceScatterSum(const void* send, void* recv,
                                                 absl::Span<const int64_t> recv_counts,
                                                 DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "ReduceScatterSum", recv_counts));
  int64_t offset = 0;
  for (int r = 0; r < rank_; ++r) offset += recv_counts[r];
  const int64_t count = recv_counts[rank_];
  const size_t element = DataTypeSize(dtype);
  Exchange(send, [&](const std::vector<const void*>& all) {
    if (count == 0) return;  // recv may be null then, and memcpy's pointers must not be
    std::memcpy(recv, static_cast<const char*>(all[0]) + offset * element, count * element);
    for (size_t r = 1; r < all.size(); ++r) {
      kernels::SumInto(recv, static_cast<const char*>(all[r]) + offset * element, count, dtype);
    }
  });
  return absl::OkStatus();
}

absl::Status LocalCommunicator::Barrier() {
  Exchange(nullptr, [](const std::vector<const void*>&) {});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> LocalCommunicator::GatherToRoot(const std::string& local) {
  std::vector<std::string> gathered;
  Exchange(&local, [&](const std::vector<const void*>& all) {
    if (rank_ != 0) return;
    for (const void* p : all) gathered.push_back(*static_cast<const std::string*>(p));
  });
  return gathered;
}

absl::Status LocalCommunicator::BroadcastFromRoot(std::string* message) {
  std::string copy;
  Exchange(message, [&](const std::vector<const void*>& all) {
    copy = *static_cast<const std::string*>(all[0]);
  });
  *message = std::move(copy);
  return absl::OkStatus();
}

absl::Status LocalCommunicator::AllreduceBitwiseAnd(absl::Span<uint64_t> words) {
  std::vector<uint64_t> result(words.begin(), words.end());
  Exchange(words.data(), [&](const std::vector<const void*>& all) {
    for (const void* other : all) {
      const uint64_t* theirs = static_cast<const uint64_t*>(other);
      for (size_t i = 0; i < result.size(); ++i) result[i] &= theirs[i];
    }
  });
  std::copy(result.begin(), result.end(), words.begin());
  return absl::OkStatus();
}

}  // namespace hilo::transport
