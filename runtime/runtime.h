// The hilo runtime of one process, as the client API sees it: the facade over everything in
// runtime/. Its header includes plain value types only (config, topology, operation, stats,
// counters, the session interface) — no protobuf, negotiation or transport internals — so that
// client/ builds against this one target.
//
// Runtime::Start() launches the coordinator thread, which opens the session (MPI's by default),
// builds the topology and the world/group/cross communicators, and then runs negotiation cycles
// until shutdown. Framework threads call Enqueue(); it validates the request, queues it, wakes
// the coordinator, and returns an Operation at once. Each cycle the coordinator agrees with its
// group on the group's ready tensors and, when someone has world or cross work, with the whole
// world on those (docs/protocol.md), and executes the agreed responses in order.
//
//   absl::StatusOr<std::unique_ptr<Runtime>> runtime = Runtime::Start(*ConfigFromEnvironment());
//   TensorRequest request{.name = "grad/w1", .communicator = CommunicatorKind::kGroup,
//                         .reduce_op = ReduceOp::kAverage, .shape = {256, 64}, .data = ptr};
//   std::shared_ptr<Operation> op = *(*runtime)->Enqueue(std::move(request));
//   op->WaitFor(absl::InfiniteDuration());
//
// Thread-safety: Enqueue, topology and the readers are safe from any thread. Shutdown is
// collective (the job's cycles end once every rank has called it) and blocks until the
// coordinator thread has exited. A rank that has called it has finished: tensors it never
// submitted and other ranks wait for fail on those ranks at once (an uneven number of steps is an
// error, not a hang).
#ifndef HILO_RUNTIME_RUNTIME_H_
#define HILO_RUNTIME_RUNTIME_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/common/clock.h"
#include "runtime/common/config.h"
#include "runtime/observability/runtime_stats.h"
#include "runtime/operation.h"
#include "runtime/parameters.h"
#include "runtime/topology.h"
#include "runtime/transport/session.h"
#include "runtime/transport/transport_counters.h"

namespace hilo {

class RuntimeCore;  // runtime_core.h

class Runtime final {
 public:
  // `open_session` (transport/session.h) opens the job's session; null: MPI's. Tests pass
  // transport/local/local_session.h's to run whole runtimes as threads of one process.
  using SessionOpener = transport::SessionOpener;

  // Blocks until the coordinator thread has initialized (or failed to). Collective over all
  // ranks of the job. Errors: INVALID_ARGUMENT for a bad topology (e.g. P not divisible by G),
  // FAILED_PRECONDITION when MPI cannot be used, UNAVAILABLE for transport failures.
  // `clock` (which must outlive the runtime) paces the coordinator's cycles and times stalls;
  // tests pass a FakeClock (runtime/common/clock.h) to drive them.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(const RuntimeConfig& config,
                                                        SessionOpener open_session = nullptr,
                                                        Clock& clock = Clock::System());
  ~Runtime();  // Shuts down if Shutdown() was not called.

  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Topology& topology() const;
  const RuntimeConfig& config() const;

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
  // FAILED_PRECONDITION (they need its data). Blocks until every rank has joined; returns the
  // world rank that joined last. Collectives this rank enqueued before still complete.
  // FAILED_PRECONDITION if it is already joining or shutting down.
  absl::StatusOr<int> Join();

  // Horovod's start_timeline / stop_timeline: world rank 0 records the coordinator's work as a
  // Chrome trace in `path` (created or truncated; an error if it cannot be written) until
  // StopTimeline, which closes the file as valid JSON; `mark_cycles` adds an instant event per
  // coordinator cycle. Replaces a timeline already running (HILO_TIMELINE's too). On other ranks
  // both return OK and record nothing, as HILO_TIMELINE. Any thread.
  absl::Status StartTimeline(const std::string& path, bool mark_cycles);
  absl::Status StopTimeline();

  // Tensors enqueued on this rank and not yet done.
  size_t queue_depth() const;
  // Horovod's mpi_threads_supported(): MPI runs with MPI_THREAD_MULTIPLE.
  bool mpi_threads_supported() const;
  // The program's training steps, as it reports them (CountStep), for the status endpoint and
  // hilorun's progress line.
  void CountStep();
  int64_t steps() const;
  // Whether the coordinator still runs (false once it stopped: shutdown, or an error).
  bool running() const;

  // Payload this rank has handed to the transport on communicator `kind` (data collectives
  // only). Zero before init completes.
  transport::TransportCounters transport_counters(CommunicatorKind kind) const;
  // Response-cache hits and misses of this rank, over all communicators, since init.
  CacheStats cache_stats() const;
  // Negotiation agreements (bitwise-AND allreduces) this rank took part in since init: over the
  // whole world, and over its group alone (docs/protocol.md, "Cycles").
  AgreementCounts agreement_counts() const;
  // Tensors stalled for at least HILO_STALL_WARNING_SECONDS, as this rank's last inspection saw
  // them (only a communicator's rank 0 sees its communicator's stalls), oldest first.
  std::vector<StallReport> current_stalls() const;
  // The most recent averaging rounds, oldest first (at most 100,000).
  std::vector<AveragingRecord> averaging_history() const;

 private:
  explicit Runtime(std::unique_ptr<RuntimeCore> core);
  const std::unique_ptr<RuntimeCore> core_;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_RUNTIME_H_
