#include "runtime/local_job.h"

#include <cstdlib>
#include <thread>

namespace hilo {

LocalJob::LocalJob(int world_size, int group_size) {
  for (int rank = 0; rank < world_size; ++rank) {
    absl::StatusOr<Topology> topology =
        MakeTopology(rank, world_size, rank, world_size, world_size, world_size, group_size);
    if (!topology.ok()) std::abort();  // a test's own mistake
    topologies_.push_back(*topology);
  }
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    for (const Topology& topology : topologies_) {
      const std::pair<int, int> key(static_cast<int>(kind), topology.SplitColor(kind));
      if (communicators_.count(key) == 0) {
        communicators_[key] = transport::LocalCommunicator::CreateGroup(
            topology.CommunicatorSize(kind), topology.CommunicatorName(kind));
      }
    }
  }
}

transport::LocalCommunicator& LocalJob::Communicator(int rank, CommunicatorKind kind) {
  const Topology& topology = topologies_[rank];
  return *communicators_[{static_cast<int>(kind), topology.SplitColor(kind)}]
                        [topology.CommunicatorRank(kind)];
}

std::array<SessionCommunicator, kNumCommunicatorKinds> LocalJob::Communicators(int rank) {
  std::array<SessionCommunicator, kNumCommunicatorKinds> communicators;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    transport::LocalCommunicator& communicator = Communicator(rank, kind);
    communicators[static_cast<int>(kind)] = {&communicator, &communicator};
  }
  return communicators;
}

void LocalJob::Run(const std::function<void(int rank)>& body) {
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world_size(); ++rank) threads.emplace_back(body, rank);
  for (std::thread& thread : threads) thread.join();
}

void LocalExecution::Build(LocalJob& job, int rank, ExecutionObserver& observer, Logger& logger) {
  HostTransportOptions transport;
  transport.cross_transport = RuntimeConfig::CrossTransport::kMpi;
  transport.peer_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<HostPlanes>> built =
      HostPlanes::Create(job.Communicators(rank), transport, logger);
  if (!built.ok()) std::abort();
  planes = *std::move(built);
  absl::StatusOr<std::unique_ptr<AveragingRounds>> made = AveragingRounds::Create(
      job.topology(rank), *planes, /*device=*/nullptr,
      job.Communicators(rank)[static_cast<int>(CommunicatorKind::kGroup)],
      AveragingRoundsOptions{}, observer, logger);
  if (!made.ok()) std::abort();
  rounds = *std::move(made);
  executor = std::make_unique<ResponseExecutor>(queue, *planes, nullptr, *rounds, observer, logger);
}

void LocalExecution::Close() {
  if (rounds != nullptr) rounds->Close();
  if (planes != nullptr) planes->Close();
}

std::shared_ptr<Operation> LocalExecution::Enqueue(TensorRequest request) {
  auto operation = std::make_shared<Operation>(nullptr);
  if (!queue.Add(TensorEntry{std::move(request), operation, absl::Now(), {}}).ok()) std::abort();
  return operation;
}

TensorRequest FloatTensor(const std::string& name, CommunicatorKind kind, std::vector<float>& data,
                          ReduceOp op) {
  TensorRequest request;
  request.name = name;
  request.communicator = kind;
  request.reduce_op = op;
  request.dtype = DataType::kFloat32;
  request.shape = {static_cast<int64_t>(data.size())};
  request.data = data.data();
  return request;
}

}  // namespace hilo
