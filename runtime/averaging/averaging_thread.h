// The thread that runs host averaging rounds beside the coordinator.
//
// A sharded round of a large model takes as long as many training steps' gradient allreduces
// (across machines it is bound by the link). Run on the coordinator thread, it holds up the
// group allreduces of the steps after it; run here, those go on while the round moves data, and
// a framework that does not wait for the round at once (hilo.torch's overlap_averaging) computes
// its next steps while the model crosses the links (Overlap Local-SGD, Wang et al., ICASSP 2020).
//
// What keeps the two threads apart:
//  * the group step of a round goes through a shared-memory segment of its own (`group`), not the
//    one the coordinator's group allreduces use;
//  * the cross communicator is shared: the coordinator calls WaitUntilIdle before it runs anything
//    on it (a cross or hierarchical-world response, another averaging round);
//  * the planes have kernels and a workspace of their own.
// Rounds run one at a time, in the order submitted, which is the negotiated order on every rank.
//
// Thread-safety: Submit, WaitUntilIdle and counters from any thread; the rounds run on the
// internal thread (and the helper threads a pipelined round starts).
#ifndef HILO_RUNTIME_AVERAGING_AVERAGING_THREAD_H_
#define HILO_RUNTIME_AVERAGING_AVERAGING_THREAD_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kernels/kernel_set.h"
#include "runtime/averaging/cross_group_averager.h"
#include "runtime/execution/data_plane.h"
#include "runtime/transport/communicator.h"
#include "runtime/transport/counting_communicator.h"

namespace hilo {

class AveragingThread {
 public:
  // `group`: the group communicator for rounds alone; `cross`: the cross communicator (already
  // counted by the caller). Both must outlive this object.
  AveragingThread(transport::Communicator* group, transport::Communicator* cross);
  // Stop() if not yet stopped.
  ~AveragingThread();

  AveragingThread(const AveragingThread&) = delete;
  AveragingThread& operator=(const AveragingThread&) = delete;

  // The host planes the rounds run on (world stays null: the world-allreduce baseline runs on the
  // coordinator's world plane). Use them only from inside a submitted round.
  AveragingPlanes planes() { return AveragingPlanes{nullptr, &group_plane_, &cross_plane_}; }

  // Queues `round` behind those submitted before it.
  void Submit(std::function<void()> round) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until every submitted round has returned.
  void WaitUntilIdle() ABSL_LOCKS_EXCLUDED(mu_);
  // Runs the rounds still queued, then joins the thread; later Submits are dropped. Idempotent;
  // from one thread (the owner's).
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // What the rounds' group step handed to the transport.
  transport::TransportCounters group_counters() const { return group_.counters(); }

 private:
  void Main();
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !running_; }
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || stopping_;
  }

  transport::CountingCommunicator group_;
  std::unique_ptr<kernels::KernelSet> kernels_;
  std::unique_ptr<kernels::Workspace> workspace_;
  DataPlane group_plane_;
  DataPlane cross_plane_;

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // a round has been taken off the queue
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts once the fields above exist
};

}  // namespace hilo

#endif  // HILO_RUNTIME_AVERAGING_AVERAGING_THREAD_H_
