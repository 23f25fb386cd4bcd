// Allreduce among the ranks of one node through one shared-memory segment, with waits that sleep.
//
// MPI's shared-memory allreduce moves data through per-peer FIFOs in 2(P-1) dependent steps, and
// its waits poll. On a node with more ranks than CPUs (and on any node while the framework
// computes) each step waits for the next peer to be scheduled while the polling ranks take the
// CPU from it. Here an allreduce of a piece (at most one slot) is three phases separated by two
// barriers:
//
//   1. every rank copies its piece into its own slot of the segment;
//   2. rank r sums range r of the piece over all slots (in place in its own slot: no other rank
//      reads or writes that range in this phase);
//   3. every rank copies the P summed ranges back into its buffer.
//
// With two ranks, phase 2 is each rank adding the other's slot to its own buffer, and phase 3
// disappears (a + b == b + a, so both get the same bits). Each rank reads and writes about 3 N
// elements however large P is, and a waiting rank sleeps on
// a futex in the segment, woken by the last arrival. Two sets of slots alternate between
// consecutive pieces (and calls), so phase 3 needs no third barrier: a set is rewritten only
// after the next piece's first barrier, which every rank passes only after its phase 3.
//
// The negotiation's bitwise-AND agreement (ControlChannel::AllreduceBitwiseAnd) goes through the
// segment too: each rank writes its words into its control slot, one barrier, each ANDs all
// slots (alternating sets as above). A rank waiting for its peers to start their cycle then
// sleeps until the last one arrives and is woken at once, instead of polling MPI.
//
// An allgather goes through the segment too, a slot's worth of every member's block at a time:
// copy in, one barrier, copy every other member's part out (alternating sets as above). Inside a
// node this is the group's step of every sharded averaging round, where MPI's polling waits
// would take the CPU from the cross-node transfer running beside it, and could not notice a
// peer that died.
//
// Every other call (broadcast, the negotiation's gather and broadcast) goes to the
// wrapped communicator and control channel. A barrier that does not complete within the timeout (a peer died or
// stopped calling) fails with DEADLINE_EXCEEDED naming the communicator, marks the segment
// aborted so that the peers' waits fail at once too, and leaves this communicator failing every
// later allreduce with the same error.
#ifndef HILO_RUNTIME_TRANSPORT_SHM_SHM_COMMUNICATOR_H_
#define HILO_RUNTIME_TRANSPORT_SHM_SHM_COMMUNICATOR_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/control_channel.h"
#include "runtime/transport/forwarding_communicator.h"

namespace hilo::transport {

class ShmCommunicator final : public ForwardingCommunicator, public ControlChannel {
 public:
  // Collective over the members of `control` (the same ranks as `inner`, in the same order).
  // `node` names this rank's machine (hostname and boot id): when the members do not all name
  // the same one, or the segment cannot be created, every member gets FAILED_PRECONDITION or
  // RESOURCE_EXHAUSTED (the same decision everywhere, made by rank 0) and keeps using `inner`.
  // `inner` and `control` must outlive the result.
  static absl::StatusOr<std::unique_ptr<ShmCommunicator>> Create(Communicator* inner,
                                                                 ControlChannel* control,
                                                                 const std::string& node,
                                                                 absl::Duration timeout);
  ~ShmCommunicator() override;

  // This machine's identity for Create: hostname and kernel boot id.
  static std::string ThisNode();

  int rank() const override { return ForwardingCommunicator::rank(); }
  int size() const override { return ForwardingCommunicator::size(); }

  // Sums slices itself; alltoall as the wrapped transport.
  Capabilities capabilities() const override {
    return {.sums_slices = true, .alltoall = ForwardingCommunicator::capabilities().alltoall};
  }
  absl::Status AllreduceSum(void* data, int64_t count, DataType dtype) override;
  // The same, gathering each piece from the slices and scattering the sums back to them: a fused
  // allreduce then needs no fusion buffer and no pack or unpack copies.
  absl::Status AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) override;
  absl::Status Allgather(const void* send, int64_t send_count, void* recv,
                         absl::Span<const int64_t> recv_counts, DataType dtype) override;

  // This rank cannot go on (`reason`: e.g. its link to another node is down): marks the segment
  // aborted, so that every member waiting in it, now or later, fails at once with ABORTED and
  // the reason, instead of waiting out the timeout for a rank that will never arrive. Any
  // thread, also while this rank's own user is inside a call (the runtime's coordinator and
  // averaging thread abort each other's segments).
  void Abort(const absl::Status& reason) ABSL_LOCKS_EXCLUDED(broken_mu_);

  // ControlChannel. Agreements of up to kControlSlotBytes go through the segment, larger ones
  // (and the gather and broadcast) through the wrapped control channel.
  absl::StatusOr<std::vector<std::string>> GatherToRoot(const std::string& local) override {
    return control_->GatherToRoot(local);
  }
  absl::Status BroadcastFromRoot(std::string* message) override {
    return control_->BroadcastFromRoot(message);
  }
  absl::Status AllreduceBitwiseAnd(absl::Span<uint64_t> words) override;

  // How long a barrier wait keeps polling (yielding the CPU between polls) before it sleeps on
  // the futex: worth it while each rank has a CPU of its own (a futex wake-up costs tens of
  // microseconds), harmful when ranks outnumber CPUs. The runtime sets HILO_CONTROL_SPIN_US's
  // choice while work is in flight, and zero while idle.
  // Any thread (the coordinator sets it on a segment the averaging thread may be waiting in).
  void set_spin(absl::Duration spin) {
    spin_nanoseconds_.store(absl::ToInt64Nanoseconds(spin), std::memory_order_relaxed);
  }

  // Bytes of one slot: the largest piece one allreduce moves between two barriers.
  size_t slot_bytes() const { return slot_bytes_; }

 private:
  struct Header;
  // The header's size, rounded up to whole pages.
  static size_t HeaderBytes();

  ShmCommunicator(Communicator* inner, ControlChannel* control, void* mapping,
                  size_t mapping_bytes, size_t slot_bytes, absl::Duration timeout);

  char* Slot(int set, int rank) const;
  uint64_t* ControlSlot(int set, int rank) const;
  // The allreduce of a buffer made of `slices` (one slice: a plain buffer).
  // Within SumPieces, between its barriers: this rank's range of a `piece` of elements in slot
  // set `set`, summed over every member's slot in slot order, into its own slot.
  void SumOwnRange(int set, int64_t piece, DataType dtype);
  absl::Status SumPieces(absl::Span<const Slice> slices, DataType dtype);
  // Waits until every member has arrived; DEADLINE_EXCEEDED after the timeout, ABORTED when a
  // peer gave up first.
  absl::Status ArriveAndWait();
  // OK, or the error every call returns since a barrier failed or Abort was called.
  absl::Status Broken() const ABSL_LOCKS_EXCLUDED(broken_mu_);
  // Records `status` (not OK) as that error and returns it.
  absl::Status Break(absl::Status status) ABSL_LOCKS_EXCLUDED(broken_mu_);

  ControlChannel* const control_;
  void* const mapping_;
  const size_t mapping_bytes_;
  const size_t slot_bytes_;
  const absl::Duration timeout_;
  Header* const header_;
  std::atomic<int64_t> spin_nanoseconds_{0};
  int next_set_ = 0;          // the slot set the next piece uses
  std::vector<char> own_values_;  // a rank >= 2's own range, set aside while it sums in order
  int next_control_set_ = 0;  // the control slot set the next agreement uses
  // Set once a barrier failed (the segment's state is then unknown) or Abort was called, which
  // another thread may do.
  mutable absl::Mutex broken_mu_;
  absl::Status broken_ ABSL_GUARDED_BY(broken_mu_);
};

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_SHM_SHM_COMMUNICATOR_H_
