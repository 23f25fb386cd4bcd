#include "runtime/averaging/averaging_rounds.h"

#include <array>
#include <utility>

#include "runtime/common/status_macros.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {

AveragingRounds::AveragingRounds(const Topology& topology, HostPlanes& host, DevicePlanes* device,
                                 ExecutionObserver& observer, Logger& logger)
    : host_(host),
      device_(device),
      observer_(observer),
      logger_(logger),
      averager_(std::make_unique<CrossGroupAverager>(topology,
                                                     &host.Counted(CommunicatorKind::kWorld))) {}

AveragingRounds::~AveragingRounds() { Stop(); }

absl::StatusOr<std::unique_ptr<AveragingRounds>> AveragingRounds::Create(
    const Topology& topology, HostPlanes& host, DevicePlanes* device, SessionCommunicator group,
    const AveragingRoundsOptions& options, ExecutionObserver& observer, Logger& logger) {
  std::unique_ptr<AveragingRounds> rounds(
      new AveragingRounds(topology, host, device, observer, logger));
  // The pipelined round drives the group and cross communicators from two threads.
  rounds->averager_->set_concurrent_communicators(host.tcp_cross() != nullptr ||
                                                  options.session_thread_multiple);
  if (options.use_thread && topology.num_groups > 1) {
    HILO_RETURN_IF_ERROR(rounds->StartThread(group, options));
  }
  return rounds;
}

absl::Status AveragingRounds::StartThread(SessionCommunicator group,
                                          const AveragingRoundsOptions& options) {
  // A round on the thread goes through the group's second segment while the coordinator's group
  // allreduces use the first, and through the cross communicator, which the coordinator leaves
  // alone meanwhile; the coordinator meanwhile negotiates over the session, so a cross step over
  // the session's transport is possible only with MPI_THREAD_MULTIPLE. Every member of a group
  // must decide alike (a round on the thread and one on the coordinator would wait in different
  // segments): the members agree with one AND over the group before creating the segment
  // together. Groups may differ.
  const bool cross_beside = host_.tcp_cross() != nullptr ||
                            host_.uses_shared_memory(CommunicatorKind::kCross) ||
                            options.session_thread_multiple;
  const int group_size = group.data->size();
  // A group of one needs no segment: its group step stays in this process.
  const bool group_beside = group_size == 1 || host_.uses_shared_memory(CommunicatorKind::kGroup);
  std::array<uint64_t, 1> usable = {group_beside && cross_beside ? 1u : 0u};
  if (group_size > 1) HILO_RETURN_IF_ERROR(group.control->AllreduceBitwiseAnd(absl::MakeSpan(usable)));
  if (usable[0] == 0) {
    HILO_LOG(logger_, LogLevel::kInfo,
             "averaging rounds run on the coordinator thread (they need a shared-memory group and "
             "a cross transport usable beside MPI: the TCP ring, shared memory or "
             "MPI_THREAD_MULTIPLE)");
    return absl::OkStatus();
  }
  transport::Communicator* round_group = nullptr;
  if (group_size == 1) {
    group_alone_ = std::move(transport::LocalCommunicator::CreateGroup(1, group.data->name())[0]);
    round_group = group_alone_.get();
  } else {
    absl::StatusOr<std::unique_ptr<transport::ShmCommunicator>> shm =
        transport::ShmCommunicator::Create(group.data, group.control,
                                           transport::ShmCommunicator::ThisNode(),
                                           options.segment_timeout);
    if (!shm.ok()) {
      if (!absl::IsFailedPrecondition(shm.status()) && !absl::IsResourceExhausted(shm.status())) {
        return shm.status();
      }
      HILO_LOG(logger_, LogLevel::kInfo, "averaging rounds run on the coordinator thread: ",
               shm.status().message());
      return absl::OkStatus();
    }
    round_group = (group_segment_ = *std::move(shm)).get();
  }
  thread_ = std::make_unique<AveragingThread>(round_group, &host_.Counted(CommunicatorKind::kCross));
  return absl::OkStatus();
}

void AveragingRounds::Run(TensorEntry entry, AveragingAlgorithm algorithm, bool check) {
  // One round at a time, in the negotiated order; the one before may still be on the thread.
  if (thread_ != nullptr) thread_->WaitUntilIdle();
  const absl::Time start = absl::Now();
  if (thread_ == nullptr || entry.request.device >= 0 ||
      algorithm != AveragingAlgorithm::kSharded) {
    // Device rounds share their NCCL communicators with the gradients' allreduces, and the
    // world-allreduce baseline the world's transport with the negotiation: here, in order.
    absl::StatusOr<AveragingPlanes> planes =
        PlanesFor(entry.request, algorithm, averager_->ReadsParameters(check));
    Finish(entry, algorithm, start,
           planes.ok() ? averager_->Run(entry.request.parameters, algorithm, check, *planes)
                       : planes.status());
    return;
  }
  // The consistency check's checksums travel over the world's session communicator, which only
  // this thread may use: checked here, before the round leaves.
  if (check) {
    const absl::Status consistent = averager_->CheckGroupConsistency(
        entry.request.parameters, host_.For(CommunicatorKind::kGroup));
    if (!consistent.ok()) {
      Finish(entry, algorithm, start, consistent);
      return;
    }
  }
  auto moved = std::make_shared<TensorEntry>(std::move(entry));
  thread_->Submit([this, moved, algorithm, start] {
    Finish(*moved, algorithm, start,
           averager_->Run(moved->request.parameters, algorithm,
                          /*check_group_consistency=*/false, thread_->planes()));
  });
}

void AveragingRounds::WaitBefore(CommunicatorKind kind) {
  // The rounds on the thread use the cross communicator, which the hierarchical world allreduce
  // uses too.
  if (thread_ == nullptr) return;
  if (kind == CommunicatorKind::kCross ||
      (kind == CommunicatorKind::kWorld && host_.hierarchical_world())) {
    thread_->WaitUntilIdle();
  }
}

absl::StatusOr<AveragingPlanes> AveragingRounds::PlanesFor(const TensorRequest& request,
                                                           AveragingAlgorithm algorithm,
                                                           bool reads_parameters) {
  if (request.device < 0) {
    return AveragingPlanes{&host_.FlatWorld(), &host_.For(CommunicatorKind::kGroup),
                           &host_.For(CommunicatorKind::kCross)};
  }
  AveragingPlanes planes;
  if (!reads_parameters) return planes;
  if (device_ == nullptr) return absl::FailedPreconditionError("no device planes in this runtime");
  // Every rank runs this response, so every member of each communicator reaches the creation of
  // its NCCL communicator here together (device_planes.h).
  const bool sharded = algorithm != AveragingAlgorithm::kWorldAllreduce;
  const std::vector<CommunicatorKind> kinds =
      sharded ? std::vector<CommunicatorKind>{CommunicatorKind::kGroup, CommunicatorKind::kCross}
              : std::vector<CommunicatorKind>{CommunicatorKind::kWorld};
  for (CommunicatorKind kind : kinds) {
    HILO_ASSIGN_OR_RETURN(DataPlane * plane, device_->For(kind, request.device));
    (kind == CommunicatorKind::kWorld   ? planes.world
     : kind == CommunicatorKind::kGroup ? planes.group
                                        : planes.cross) = plane;
    // The framework's pending work on the parameters, waited for on each stream that reads them
    // (an event shared by consecutive parameters is waited for once).
    const void* waited = nullptr;
    for (const ParameterTensor& parameter : request.parameters) {
      if (parameter.ready_event == nullptr || parameter.ready_event == waited) continue;
      HILO_RETURN_IF_ERROR(device_->WaitForEvent(kind, parameter.ready_event));
      waited = parameter.ready_event;
    }
  }
  return planes;
}

void AveragingRounds::Finish(TensorEntry& entry, AveragingAlgorithm algorithm, absl::Time start,
                             const absl::StatusOr<AveragingRoundResult>& result) {
  const absl::Time end = absl::Now();
  if (!result.ok()) {
    if (observer_.Listening()) observer_.RoundDone(entry.request.name, start, end, nullptr);
    // A peer on another node stopped moving data (its node or link is down) or hung up: this
    // rank leaves the round, and the members of its node waiting for it in a shared-memory
    // segment must learn it now, with the reason, rather than wait out their own timeout.
    if (host_.tcp_cross() != nullptr &&
        (absl::IsDeadlineExceeded(result.status()) || absl::IsUnavailable(result.status()))) {
      host_.AbortSegments(result.status());
      Abort(result.status());
    }
    entry.operation->Complete(result.status());
    return;
  }
  AveragingRecord record;
  record.discrepancy = result->discrepancy;
  record.elements = result->elements;
  record.algorithm = algorithm;
  record.duration = end - start;
  {
    absl::MutexLock lock(&mu_);
    record.round = ++rounds_;
    history_.push_back(record);
    if (history_.size() > kHistoryLimit) history_.pop_front();
  }
  HILO_LOG(logger_, LogLevel::kDebug, "averaging round ", record.round, " (",
           AveragingAlgorithmName(algorithm), ", ", record.elements, " elements): D = ",
           record.discrepancy, " in ", absl::FormatDuration(record.duration));
  if (observer_.Listening()) observer_.RoundDone(entry.request.name, start, end, &record);
  entry.operation->set_discrepancy(result->discrepancy);
  entry.operation->Complete(absl::OkStatus());
}

void AveragingRounds::Abort(const absl::Status& reason) {
  if (group_segment_ != nullptr) group_segment_->Abort(reason);
}

void AveragingRounds::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

void AveragingRounds::Close() {
  Stop();
  averager_.reset();
  group_segment_.reset();
  group_alone_.reset();
}

std::vector<AveragingRecord> AveragingRounds::history() const {
  absl::MutexLock lock(&mu_);
  return std::vector<AveragingRecord>(history_.begin(), history_.end());
}

AveragingSummary AveragingRounds::summary() const {
  absl::MutexLock lock(&mu_);
  AveragingSummary summary;
  summary.rounds = rounds_;
  if (!history_.empty()) summary.latest = history_.back();
  return summary;
}

transport::TransportCounters AveragingRounds::group_counters() const {
  return thread_ != nullptr ? thread_->group_counters() : transport::TransportCounters{};
}

}  // namespace hilo
