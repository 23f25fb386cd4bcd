// The data-plane interface every collective algorithm in hilo is written against.
//
// A Communicator is a fixed set of ranks (hilo's world, one group, or one cross-group set) that
// moves tensor data. Algorithms above it (the runtime's allreduce/allgather/broadcast, and later
// the sharded cross-group averaging) never know which transport runs underneath: MPI on host
// memory today, NCCL on device memory with CUDA streams next.
//
// Contract shared by all implementations:
//  * Collective: every rank of the communicator makes the same calls in the same order with
//    matching counts and dtype. Only one thread (hilo's coordinator thread) calls a given
//    Communicator; implementations need not be thread-safe.
//  * Buffers live in memory_kind() memory.
//  * A call may return before the data is in place (an asynchronous transport enqueues the work
//    on its own stream); Synchronize() returns once every call made so far has completed. Host
//    transports complete each call before returning and Synchronize() is then free.
//  * Sums only: averaging and casts are kernels applied by the caller, identically for every
//    transport. float16 and bfloat16 are summed in their own format, never silently widened.
//  * Errors are absl::Status values naming the call, the communicator and the rank.
#ifndef HILO_RUNTIME_TRANSPORT_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_COMMUNICATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "kernels/dtype.h"
#include "kernels/pack_slice.h"
#include "kernels/reduce.h"

namespace hilo::transport {

enum class MemoryKind { kHost, kCudaDevice };

class Communicator {
 public:
  // A tensor's place in the concatenation AllreduceSumSlices sums (the pack kernel's layout).
  using Slice = kernels::PackSlice;

  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "world", "group 1", "cross 0": used in error messages.
  virtual const std::string& name() const = 0;
  virtual MemoryKind memory_kind() const = 0;

  // What a transport does beyond the calls every one has. Callers ask before calling (and
  // transport/conformance checks that the declaration is honest); the calls themselves still
  // return UNIMPLEMENTED where a capability is absent.
  struct Capabilities {
    bool sums_slices = false;  // AllreduceSumSlices: sums tensors in place, no packing needed
    bool alltoall = false;     // Alltoall
  };
  virtual Capabilities capabilities() const { return {}; }

  // In place: data[i] = sum over ranks of data[i].
  virtual absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) = 0;

  // In place: data[i] = min / max / product over ranks of data[i] (the transport's native
  // operation where it has one). For metrics and flags rather than gradients: no sliced or
  // reduce-scatter variant.
  virtual absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                                     kernels::Reduction op) = 0;

  // Concatenates every rank's `send` (send_count elements) into `recv` in rank order.
  // recv_counts[r] is rank r's send_count; recv holds their sum. In place when `send` is exactly
  // this rank's block of `recv` (recv + sum of recv_counts[0..rank)); otherwise the two must not
  // overlap.
  virtual absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                                 absl::Span<const int64_t> recv_counts, DataType dtype) = 0;

  // AllreduceSum of the concatenation of `slices` (in order, offsets contiguous from 0, whole
  // elements: the layout the pack kernel would give them), in place in the slices, without the
  // caller packing them into one buffer first: for transports that copy the data anyway (shared
  // memory), gathering straight from the tensors saves a copy each way. Only where
  // capabilities().sums_slices; UNIMPLEMENTED by default: the caller then packs.
  virtual absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) {
    (void)slices;
    (void)dtype;
    return absl::UnimplementedError("this transport sums packed buffers only");
  }

  // Every rank sends block j of `send` (send_counts[j] elements, blocks in rank order) to rank j,
  // and receives rank j's block for it into block j of `recv` (recv_counts[j] elements, which
  // must equal rank j's send_counts[this rank]). `send` and `recv` must not overlap.
  // Only where capabilities().alltoall; UNIMPLEMENTED by default (the device transports have
  // none yet).
  virtual absl::Status Alltoall(const void* send, absl::Span<const int64_t> send_counts,
                                void* recv, absl::Span<const int64_t> recv_counts,
                                DataType dtype) {
    (void)send;
    (void)send_counts;
    (void)recv;
    (void)recv_counts;
    (void)dtype;
    return absl::UnimplementedError(
        absl::StrCat("alltoall on ", name(), ": not on this transport"));
  }

  // In place: every rank ends with root's data. `root` is a rank of this communicator.
  virtual absl::Status Broadcast(void* data, int64_t count, DataType dtype, int root) = 0;

  // Sums `send` (sum of recv_counts elements) over ranks and leaves block r of the sum
  // (recv_counts[r] elements, blocks in rank order) in rank r's `recv`.
  virtual absl::Status ReduceScatterSum(const void* send, void* recv,
                                        absl::Span<const int64_t> recv_counts, DataType dtype) = 0;

  virtual absl::Status Barrier() = 0;

  // Waits for every call made so far on this communicator to complete.
  virtual absl::Status Synchronize() = 0;
};

// The argument checks every transport makes before it moves data: a call that no rank can satisfy
// fails on every rank alike, with INVALID_ARGUMENT naming the call and the communicator, instead
// of crashing or leaving the others waiting (transport/conformance holds every transport to it).
inline absl::Status CheckRoot(const Communicator& communicator, int root) {
  if (root >= 0 && root < communicator.size()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("broadcast root ", root, " is not a rank of ",
                                                 communicator.name(), " (size ",
                                                 communicator.size(), ")"));
}
// `counts` has one entry per rank, none negative.
inline absl::Status CheckCounts(const Communicator& communicator, absl::string_view call,
                                absl::Span<const int64_t> counts) {
  if (static_cast<int>(counts.size()) != communicator.size()) {
    return absl::InvalidArgumentError(absl::StrCat(call, " on ", communicator.name(), ": ",
                                                   counts.size(), " counts for ",
                                                   communicator.size(), " ranks"));
  }
  for (int64_t count : counts) {
    if (count < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(call, " on ", communicator.name(), ": negative count ", count));
    }
  }
  return absl::OkStatus();
}

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_COMMUNICATOR_H_
