// The hilo runtime of one process: the one object that owns all of hilo's state.
//
// Runtime::Start() launches the coordinator thread, which initializes MPI, builds the topology
// and the world/group/cross communicators, and then runs negotiation cycles until shutdown.
// Framework threads call Enqueue(); it validates the request, queues it, wakes the coordinator,
// and returns an Operation at once. Each cycle the coordinator agrees with its group on the
// group's ready tensors and, when someone has world or cross work, with the whole world on those
// (see controller.h and docs/protocol.md), and executes the agreed responses in order. This is the
// facade the client API is built on; nothing above it sees transports or protocol messages.
//
//   absl::StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Start(*ConfigFromEnvironment());
//   TensorRequest request{.name = "grad/w1", .communicator = CommunicatorKind::kGroup,
//                         .reduce_op = ReduceOp::kAverage, .shape = {256, 64}, .data = ptr};
//   std::shared_ptr<Operation> op = *(*runtime)->Enqueue(std::move(request));
//   op->WaitFor(absl::InfiniteDuration());
//
// Thread-safety: Enqueue, topology and status are safe from any thread. Shutdown is collective
// (the job's cycles end once every rank has called it) and blocks until the coordinator thread
// has exited. A rank that has called it has finished: tensors it never submitted and other
// ranks wait for fail on those ranks at once (an uneven number of steps is an error, not a hang).
#ifndef HILO_RUNTIME_RUNTIME_H_
#define HILO_RUNTIME_RUNTIME_H_

#include <array>
#include <atomic>
#include <deque>
#include <vector>
#include <memory>
#include <optional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "kernels/kernel_set.h"
#include "runtime/common/config.h"
#include "runtime/common/logging.h"
#include "runtime/controller.h"
#include "runtime/averaging_thread.h"
#include "runtime/collectives.h"
#include "runtime/cross_group_averager.h"
#include "runtime/device_planes.h"
#include "runtime/operation.h"
#include "runtime/stall_inspector.h"
#include "runtime/status/status_server.h"
#include "runtime/tensor_queue.h"
#include "runtime/timeline.h"
#include "runtime/topology.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/mpi/mpi_session.h"
#include "runtime/transport/shm/shm_communicator.h"
#include "runtime/transport/tcp/tcp_communicator.h"

namespace hilo {

class Runtime final : public StatusSource {
 public:
  // Blocks until the coordinator thread has initialized (or failed to). Collective over all
  // ranks of the job. Errors: INVALID_ARGUMENT for a bad topology (e.g. P not divisible by G),
  // FAILED_PRECONDITION when MPI cannot be used, UNAVAILABLE for transport failures.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(const RuntimeConfig& config);

  ~Runtime();  // Shuts down if Shutdown() was not called.

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Topology& topology() const { return topology_; }
  const RuntimeConfig& config() const { return config_; }

  // Validates and queues one collective. Never blocks on the network. Errors: INVALID_ARGUMENT
  // for a malformed request, ALREADY_EXISTS for a name in flight, FAILED_PRECONDITION after
  // shutdown was requested on this rank (or the error the runtime stopped with).
  absl::StatusOr<std::shared_ptr<Operation>> Enqueue(TensorRequest request);

  // Ends the cycles on every rank and fails operations still pending with FAILED_PRECONDITION.
  // Idempotent. Returns the error the coordinator stopped with, if it stopped on one.
  absl::Status Shutdown();

  // Horovod's join: this rank has no more data. Until every rank has joined, it takes part in
  // the others' allreduces (any communicator) with zeros and in their allgathers with no rows;
  // their broadcasts, reducescatters, alltoalls and averaging rounds fail with
  // FAILED_PRECONDITION (they need its data). Blocks until every rank
  // has joined; returns the world rank that joined last. Collectives this rank enqueued before
  // still complete. FAILED_PRECONDITION if it is already joining or shutting down.
  absl::StatusOr<int> Join();

  // Horovod's start_timeline / stop_timeline: world rank 0 records the coordinator's work as a
  // Chrome trace in `path` (created or truncated; an error if it cannot be written) until
  // StopTimeline, which closes the file as valid JSON; `mark_cycles` adds an instant event per
  // coordinator cycle. Replaces a timeline already running (HILO_TIMELINE's too). On other ranks
  // both return OK and record nothing, as HILO_TIMELINE. Any thread.
  absl::Status StartTimeline(const std::string& path, bool mark_cycles);
  absl::Status StopTimeline();

  // Tensors enqueued on this rank and not yet done.
  size_t queue_depth() const { return queue_.size(); }

  // Horovod's mpi_threads_supported(): MPI runs with MPI_THREAD_MULTIPLE.
  bool mpi_threads_supported() const { return mpi_threads_supported_; }

  // The program's training steps, as it reports them (CountStep), for the status endpoint and
  // hilorun's progress line. Thread-safe.
  void CountStep() { steps_.fetch_add(1, std::memory_order_relaxed); }
  int64_t steps() const { return steps_.load(std::memory_order_relaxed); }

  // Payload this rank has handed to the transport on communicator `kind` (data collectives
  // only; see transport/counting_communicator.h). Zero before init completes.
  transport::TransportCounters transport_counters(CommunicatorKind kind) const;

  // Response-cache hits and misses of this rank, over all communicators, since init.
  CacheStats cache_stats() const;

  // Negotiation agreements (bitwise-AND allreduces) this rank took part in since init: over the
  // whole world, and over its group alone (docs/protocol.md, "Cycles").
  AgreementCounts agreement_counts() const {
    return {world_agreements_.load(std::memory_order_relaxed),
            group_agreements_.load(std::memory_order_relaxed)};
  }

  // Tensors stalled for at least HILO_STALL_WARNING_SECONDS, as this rank's last inspection saw
  // them (only a communicator's rank 0 sees its communicator's stalls), oldest first.
  std::vector<StallReport> current_stalls() const;

  // What the status endpoint serves (proto/status.proto). Thread-safe.
  status::StatusReply Snapshot() const override;

  // The most recent averaging rounds, oldest first (at most kAveragingHistoryLimit).
  std::vector<AveragingRecord> averaging_history() const ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr size_t kAveragingHistoryLimit = 100000;

 private:
  explicit Runtime(const RuntimeConfig& config);

  void CoordinatorMain();
  absl::Status InitializeOnCoordinator();
  // Runs cycles until shutdown is agreed; returns the error that stopped them, if any.
  // After a wake-up for new work: returns once the burst of enqueues has paused.
  void WaitForBurstToEnd();
  // Every rank has joined: Join() returns on this rank.
  void CompleteJoin(const proto::ResponseList& responses) ABSL_LOCKS_EXCLUDED(mu_);
  // While this rank is joined, the zero-filled entry that stands in for tensor `index` of an
  // allreduce response it never enqueued (its buffer kept in `zeros`); nullopt otherwise.
  std::optional<TensorEntry> JoinedStandIn(CommunicatorKind kind, const proto::Response& response,
                                           int index, std::deque<std::vector<char>>& zeros) const;
  // Timeline: the QUEUE and NEGOTIATE phases of an entry whose response was agreed at `agreed`.
  void RecordNegotiation(const TensorEntry& entry, absl::Time agreed);
  // Timeline writes, from the coordinator thread; free when no timeline runs.
  bool TimelineOn() const { return timeline_on_.load(std::memory_order_relaxed); }
  void RecordPhase(absl::string_view row, absl::string_view phase, absl::Time start,
                   absl::Time end, absl::string_view args_json = "");
  void RecordCycleStart();
  absl::Status RunCycles();
  void ExecuteResponses(CommunicatorKind kind, const proto::ResponseList& responses);
  void ExecuteOne(CommunicatorKind kind, const proto::Response& response);
  void ExecuteFusedAllreduce(CommunicatorKind kind, const proto::Response& response);
  // `status` (the coordinator's reason to stop), with the other nodes that no longer answer named
  // when it is a timeout and the job spans machines.
  absl::Status NameUnreachablePeers(const absl::Status& status);
  // This rank cannot go on: every member of its node waiting in one of its shared-memory
  // segments fails at once with `reason` (ShmCommunicator::Abort).
  void AbortNodeSegments(const absl::Status& reason);
  // Runs the round on the averaging thread when it can (host parameters, sharded), else here.
  void RunAveragingRound(const proto::Response& response, TensorEntry& entry);
  // Records the round's outcome and completes its operation (on the thread that ran it).
  void FinishAveragingRound(TensorEntry& entry, AveragingAlgorithm algorithm, absl::Time start,
                            const absl::StatusOr<AveragingRoundResult>& result);
  // At init, after the communicators: the averaging thread and its group segment, when
  // HILO_AVERAGING_THREAD is on and every member of the group can use them.
  absl::Status StartAveragingThread(absl::Duration segment_timeout);
  // Before a response on `kind` runs: waits for the rounds on the averaging thread when it would
  // use the cross communicator they use.
  void WaitForAveragingThread(CommunicatorKind kind);

  const RuntimeConfig config_;
  Logger logger_;
  TensorQueue queue_;
  // Fed by the coordinator thread; its current stalls readable from any thread.
  StallInspector stalls_;

  // Written by the coordinator thread before init_done_ is notified; read-only afterwards.
  Topology topology_;
  absl::Status init_status_;
  absl::Notification init_done_;

  // Owned and used by the coordinator thread only (created and destroyed there).
  std::unique_ptr<transport::MpiSession> session_;
  // Written on the coordinator thread before init_done_ is notified; read after Init returned.
  bool mpi_threads_supported_ = false;
  // How long control waits poll while this rank has work in flight (set at init).
  absl::Duration control_spin_ = absl::ZeroDuration();
  std::array<std::unique_ptr<transport::MpiCommunicator>, kNumCommunicatorKinds> communicators_;
  // Shared-memory allreduce over each communicator whose ranks share a machine (else null);
  // wraps the MPI communicator above for the data plane.
  std::array<std::unique_ptr<transport::ShmCommunicator>, kNumCommunicatorKinds> shm_;
  // The TCP ring the cross communicator's allreduces take when its ranks are on several
  // machines (HILO_CROSS_TRANSPORT); wraps the MPI cross communicator. Null otherwise.
  std::unique_ptr<transport::TcpCommunicator> tcp_cross_;
  std::array<std::unique_ptr<Controller>, kNumCommunicatorKinds> controllers_;
  std::unique_ptr<CrossGroupAverager> averager_;
  // Host sharded rounds run here beside the coordinator (runtime/averaging_thread.h), their group
  // step through a segment of their own; null when they run on the coordinator. Created at init,
  // stopped when the coordinator exits, destroyed with the Runtime (its counters stay readable).
  std::unique_ptr<transport::ShmCommunicator> round_group_shm_;
  // The rounds' group when groups have one member: in this process, no MPI from that thread.
  std::unique_ptr<transport::Communicator> round_group_alone_;
  std::unique_ptr<AveragingThread> averaging_thread_;
  const absl::Time started_at_ = absl::Now();
  std::atomic<int64_t> steps_{0};
  std::atomic<int64_t> world_agreements_{0};
  std::atomic<int64_t> group_agreements_{0};
  // World rank 0's timeline (HILO_TIMELINE from init, or StartTimeline from any thread), written
  // by the coordinator thread. timeline_on_ mirrors timeline_ != nullptr, so that the hot path
  // takes no lock while no timeline runs.
  absl::Mutex timeline_mu_;
  std::unique_ptr<Timeline> timeline_ ABSL_GUARDED_BY(timeline_mu_);
  bool mark_cycles_ ABSL_GUARDED_BY(timeline_mu_) = false;
  std::atomic<bool> timeline_on_{false};
  // Copied from the controllers after every negotiation, so that any thread may read them.
  std::array<std::atomic<int64_t>, kNumCommunicatorKinds> cache_hits_{};
  std::array<std::atomic<int64_t>, kNumCommunicatorKinds> cache_misses_{};
  // What the data plane goes through: the communicators above, counted. Created at init (before
  // init_done_ is notified) and destroyed with the Runtime, so other threads may read counters.
  std::array<std::unique_ptr<transport::CountingCommunicator>, kNumCommunicatorKinds> counted_;
  // The host data plane (created at init, coordinator thread only): the counted MPI
  // communicators with the CPU kernels and one host fusion buffer; with
  // HILO_HIERARCHICAL_ALLREDUCE the world's goes through the group and cross communicators.
  std::unique_ptr<kernels::KernelSet> cpu_kernels_;
  std::unique_ptr<kernels::Workspace> host_fusion_;
  std::unique_ptr<kernels::Workspace> host_shard_;
  std::unique_ptr<transport::Communicator> hierarchical_world_;
  std::array<std::unique_ptr<DataPlane>, kNumCommunicatorKinds> host_planes_;
  // The flat host world plane when the world's is hierarchical: averaging's world-allreduce
  // baseline stays the flat allreduce it is meant to be compared with.
  std::unique_ptr<DataPlane> flat_host_world_plane_;
  // The NCCL data plane for CUDA tensors (device_planes.h), created at init, used on first need.
  std::unique_ptr<DevicePlanes> device_planes_;
  // The data plane a response's `requests` on `kind` run on: host, or NCCL for CUDA tensors
  // (whose framework events its stream is then made to wait for). Every rank's requests of one
  // response agree on the memory (negotiation checks it).
  absl::StatusOr<DataPlane*> PlaneFor(CommunicatorKind kind,
                                      absl::Span<const TensorRequest* const> requests);
  // The planes an averaging round of `request` runs on with `algorithm`: host, or NCCL when its
  // parameters are CUDA tensors (then made to wait for their events). `reads_parameters`: false
  // when the round will not read them (CrossGroupAverager::ReadsParameters), so no NCCL
  // communicator is created for it.
  absl::StatusOr<AveragingPlanes> AveragingPlanesFor(const TensorRequest& request,
                                                     AveragingAlgorithm algorithm,
                                                     bool reads_parameters);

  mutable absl::Mutex mu_;
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Join(), completed (and reset) when every rank has joined.
  std::shared_ptr<Operation> join_ ABSL_GUARDED_BY(mu_);
  // Coordinator thread only: whether this rank is joined in the cycle being run.
  bool joined_this_cycle_ = false;
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool coordinator_stopped_ ABSL_GUARDED_BY(mu_) = false;
  int64_t averaging_rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<AveragingRecord> averaging_history_ ABSL_GUARDED_BY(mu_);
  // Serializes concurrent Shutdown() calls around the join.
  absl::Mutex join_mu_;
  std::thread coordinator_ ABSL_GUARDED_BY(join_mu_);
  // Node-local rank 0 with HILO_STATUS_PORT set; stopped by Shutdown().
  std::unique_ptr<StatusServer> status_server_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_RUNTIME_H_
