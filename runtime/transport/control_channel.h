// The control-plane interface the negotiation protocol runs over.
//
// Negotiation exchanges small serialized messages between a communicator's ranks and its rank 0
// (the coordinator). It is separate from Communicator because the data plane may be NCCL on GPU
// memory while control messages always travel on the host (as Horovod keeps MPI or Gloo for
// its controller). Same collective contract as Communicator: all ranks call in the same order,
// from one thread.
#ifndef HILO_RUNTIME_TRANSPORT_CONTROL_CHANNEL_H_
#define HILO_RUNTIME_TRANSPORT_CONTROL_CHANNEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hilo::transport {

class ControlChannel {
 public:
  virtual ~ControlChannel() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Every rank contributes `local`; rank 0 gets all contributions indexed by rank, the other
  // ranks get an empty vector. Blocking.
  virtual absl::StatusOr<std::vector<std::string>> GatherToRoot(const std::string& local) = 0;

  // Rank 0's `*message` replaces every other rank's. Blocking.
  virtual absl::Status BroadcastFromRoot(std::string* message) = 0;

  // In place: words[i] becomes the bitwise AND of every rank's words[i]. Every rank passes the
  // same number of words. Blocking. (The response cache's whole negotiation.)
  virtual absl::Status AllreduceBitwiseAnd(absl::Span<uint64_t> words) = 0;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_CONTROL_CHANNEL_H_
