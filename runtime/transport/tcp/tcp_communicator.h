// Allreduce between machines over TCP: a ring of plain sockets, pipelined in chunks, whose waits
// sleep in poll() instead of spinning.
//
// Why not MPI's TCP path: measured on emulated nodes (tools/netns), 4 ranks per node exchanging
// their shards over a 1 Gbit/s link reached 65% of the link through MPI, 95% through blocking
// sockets. A rank waiting in MPI polls its BTLs; with several ranks per node (and a framework
// computing beside them) the polling takes the CPU from the kernel's TCP work and from the peer
// that has data to send. Here a waiting rank sleeps in the kernel, and the link is fed as soon as
// a socket can take more.
//
// The allreduce is a ring over the communicator's k ranks (rank r sends to r+1, receives from
// r-1): k-1 reduce-scatter steps, then k-1 allgather steps, each moving one of k blocks; each
// rank sends 2 (k-1)/k of the buffer. Every block is cut into chunks, and a chunk of step t is
// sent as soon as the same chunk of step t-1 has arrived (and been reduced), so the ring never
// waits for a whole block: sends, receives and the reduction of what arrived proceed together in
// one thread, driven by poll(). Each block is summed in ring order, and the sums are then copied
// around, so every rank ends with the same bits.
//
// Every other call (allgather, broadcast, reduce-scatter, barrier) goes to the wrapped
// communicator. A peer that sends nothing (or takes nothing) for `timeout` — its node or its link
// is down — fails the call with DEADLINE_EXCEEDED naming the peer's rank, host and address; a
// closed connection fails it with UNAVAILABLE. After an error every later allreduce fails with
// the same status (the ring's position is then unknown).
//
// Collective over `inner`'s ranks; called from one thread (the coordinator's), as every
// Communicator.
#ifndef HILO_RUNTIME_TRANSPORT_TCP_TCP_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_TCP_TCP_COMMUNICATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/forwarding_communicator.h"

namespace hilo::transport {

class TcpCommunicator final : public ForwardingCommunicator {
 public:
  // Where this rank listens: the IPv4 address of `interface` ("eth0"; empty: the first
  // non-loopback interface that is up and has one, else the loopback address).
  static absl::StatusOr<std::string> ListenAddress(const std::string& interface);

  // Collective over `inner`'s ranks: each listens on ListenAddress(interface), the addresses are
  // exchanged through `inner`, and each connects to the next rank of the ring. If any rank fails
  // (no such interface, a peer unreachable within `timeout`), every rank gets the same error
  // (FAILED_PRECONDITION naming the ranks and what went wrong) and may keep using `inner`.
  // `inner` must outlive the result and hold host memory.
  static absl::StatusOr<std::unique_ptr<TcpCommunicator>> Create(Communicator* inner,
                                                                 const std::string& interface,
                                                                 absl::Duration timeout);
  ~TcpCommunicator() override;

  // Packed buffers only; alltoall as the wrapped transport.
  Capabilities capabilities() const override {
    return {.sums_slices = false, .alltoall = ForwardingCommunicator::capabilities().alltoall};
  }
  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  absl::Status AllreduceWith(void* data, int64_t count, DataType dtype,
                             kernels::Reduction op) override;
  // Packed buffers only: the caller packs (one copy each way, as for MPI).
  absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) override {
    (void)slices;
    (void)dtype;
    return absl::UnimplementedError("the TCP ring sums packed buffers only");
  }

  // "rank 1 (host node2, 10.20.0.2:40001)": how errors name a peer.
  std::string DescribePeer(int rank) const;

  // Which peers cannot be reached now: a connection attempt to each one's listening socket that
  // gets no answer within `timeout` (a node that is down or cut off answers nothing; a live one's
  // kernel answers at once, whatever its process is doing). For diagnosing a stall that MPI
  // cannot explain; any thread, but not concurrently with itself.
  std::vector<int> UnreachablePeers(absl::Duration timeout);

  // Bytes per chunk of the ring's pipeline (a multiple of every element size).
  static constexpr int64_t kChunkBytes = int64_t{256} << 10;

 private:
  struct Peer {
    std::string host;     // the peer's hostname
    std::string address;  // "ip:port" it listens on
  };

  TcpCommunicator(Communicator* inner, int listen_fd, int send_fd, int receive_fd,
                  std::vector<Peer> peers, absl::Duration timeout);

  // The ring allreduce; `combine(inout, in, count)` reduces one received chunk into place.
  absl::Status RingAllreduce(void* data, int64_t count, DataType dtype,
                             absl::FunctionRef<void(void*, const void*, int64_t)> combine);
  // One RingAllreduce's progress through its steps and chunks (tcp_communicator.cc).
  class RingPass;

  // Stays open so that UnreachablePeers' probes from other ranks are answered; their connections
  // are accepted and closed by the next probe here.
  const int listen_fd_;
  const int send_fd_;     // connected to rank + 1
  const int receive_fd_;  // accepted from rank - 1
  const std::vector<Peer> peers_;
  const absl::Duration timeout_;
  std::vector<char> scratch_;  // one received chunk before it is reduced into place
  absl::Status broken_;
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_TCP_TCP_COMMUNICATOR_H_
