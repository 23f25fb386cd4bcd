// Tensor fusion: many small allreduces become one transport call.
//
// PlanFusion runs on a communicator's coordinator, over the responses of one cycle: allreduce
// responses with the same dtype and reduce op are merged, in order, into responses whose tensors
// together fit in `threshold_bytes`; a tensor that alone exceeds the threshold keeps a response of
// its own; everything else keeps its place. Every rank then executes the merged responses
// identically (FusionBuffer packs the tensors, one allreduce runs, the results are unpacked).
// Pure function; FusionBuffer is owned by the coordinator thread.
#ifndef HILO_RUNTIME_FUSION_H_
#define HILO_RUNTIME_FUSION_H_

#include <cstdint>
#include <vector>

#include "proto/negotiation.pb.h"

namespace hilo {

// `threshold_bytes` 0 disables fusion (the responses are returned unchanged).
std::vector<proto::Response> PlanFusion(std::vector<proto::Response> responses,
                                        int64_t threshold_bytes);

// One tensor's bytes in a packed buffer.
struct PackedSlice {
  void* data;
  size_t bytes;
};

// The buffer several tensors are packed into for one transport call (fused allreduces, the
// flat model of an averaging round): grown to the largest use seen and reused, so steady-state
// steps allocate nothing.
class FusionBuffer {
 public:
  // A buffer of at least `bytes`, valid until the next call.
  char* Get(size_t bytes) {
    if (buffer_.size() < bytes) buffer_.resize(bytes);
    return buffer_.data();
  }
  size_t capacity() const { return buffer_.size(); }

  // Copies the slices back to back into the buffer and returns it (valid until the next call).
  char* Pack(const std::vector<PackedSlice>& slices);
  // Copies the buffer, as laid out by Pack, back into the slices.
  void Unpack(const std::vector<PackedSlice>& slices) const;

 private:
  std::vector<char> buffer_;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_FUSION_H_
