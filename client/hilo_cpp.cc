#include "client/hilo_cpp.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/common/status_macros.h"
#include "runtime/runtime.h"
#include "runtime/transport/gpu/gpu_support.h"

namespace hilo {
namespace {

const std::vector<char> kNoOutput;
const std::vector<int64_t> kNoShape;

std::string DescribeDevice(int device) {
  return device < 0 ? std::string("host memory") : absl::StrCat("CUDA device ", device);
}

}  // namespace

BuildInfo GetBuildInfo() {
  return {transport::BuiltWithCuda(), transport::NcclHeaderVersion()};
}

bool Handle::Poll() const { return operation_ != nullptr && operation_->done(); }

absl::Status Handle::Wait(absl::Duration timeout) const {
  if (operation_ == nullptr) return absl::FailedPreconditionError("empty hilo::Handle");
  if (!operation_->WaitFor(timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "hilo operation still in flight after waiting ", absl::FormatDuration(timeout)));
  }
  return operation_->status();
}

std::optional<absl::Status> Handle::result() const {
  if (!Poll()) return std::nullopt;
  return operation_->status();
}

const std::vector<char>& Handle::output() const {
  return Poll() ? operation_->output() : kNoOutput;
}

const std::vector<int64_t>& Handle::output_shape() const {
  return Poll() ? operation_->output_shape() : kNoShape;
}

std::optional<double> Handle::discrepancy() const {
  if (!Poll()) return std::nullopt;
  return operation_->discrepancy();
}

const std::vector<int64_t>& Handle::received_splits() const {
  return Poll() ? operation_->received_splits() : kNoShape;
}

absl::StatusOr<std::unique_ptr<Context>> Context::Init() {
  HILO_ASSIGN_OR_RETURN(RuntimeConfig config, ConfigFromEnvironment());
  return Init(config);
}

absl::StatusOr<std::unique_ptr<Context>> Context::Init(const RuntimeConfig& config) {
  HILO_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> runtime, Runtime::Start(config));
  return std::unique_ptr<Context>(new Context(std::move(runtime)));
}

Context::Context(std::unique_ptr<Runtime> runtime) : runtime_(std::move(runtime)) {}

Context::~Context() { Shutdown().IgnoreError(); }

absl::Status Context::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  return runtime_->Shutdown();
}

absl::StatusOr<int> Context::Join() {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->Join();
}

absl::Status Context::StartTimeline(const std::string& path, bool mark_cycles) {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->StartTimeline(path, mark_cycles);
}

absl::Status Context::StopTimeline() {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->StopTimeline();
}

absl::Status Context::CheckRunning() const {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return absl::FailedPreconditionError("hilo has been shut down");
  return absl::OkStatus();
}

const RuntimeConfig& Context::config() const { return runtime_->config(); }

absl::StatusOr<std::vector<StallReport>> Context::CurrentStalls() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->current_stalls();
}

absl::StatusOr<Topology> Context::topology() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->topology();
}

absl::StatusOr<CacheStats> Context::ResponseCacheStats() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->cache_stats();
}

absl::StatusOr<AgreementCounts> Context::NegotiationAgreements() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->agreement_counts();
}

void Context::CountStep() { runtime_->CountStep(); }

absl::StatusOr<bool> Context::mpi_threads_supported() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->mpi_threads_supported();
}

absl::StatusOr<size_t> Context::queue_depth() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->queue_depth();
}

absl::StatusOr<Handle> Context::Enqueue(CollectiveType collective, absl::string_view name,
                                        const TensorView& tensor,
                                        const CollectiveOptions& options) {
  HILO_RETURN_IF_ERROR(CheckRunning());
  TensorRequest request;
  request.name = std::string(name);
  request.collective = collective;
  request.communicator = options.communicator;
  request.reduce_op = options.reduce_op;
  request.dtype = tensor.dtype;
  request.shape = tensor.shape;
  request.data = tensor.data;
  request.device = tensor.device;
  request.ready_event = tensor.ready_event;
  request.root_rank = options.root_rank;
  request.splits = options.splits;
  request.callback = options.on_complete;
  HILO_ASSIGN_OR_RETURN(std::shared_ptr<Operation> operation,
                        runtime_->Enqueue(std::move(request)));
  return Handle(std::move(operation));
}

absl::StatusOr<Handle> Context::AverageAcrossGroups(absl::string_view name,
                                                    const std::vector<TensorView>& parameters,
                                                    const AveragingOptions& options) {
  HILO_RETURN_IF_ERROR(CheckRunning());
  TensorRequest request;
  request.name = std::string(name);
  request.collective = CollectiveType::kAverageAcrossGroups;
  request.communicator = CommunicatorKind::kWorld;
  request.algorithm = options.algorithm.value_or(runtime_->config().averaging_algorithm);
  request.check_group_consistency =
      options.check_group_consistency.value_or(runtime_->config().check_group_consistency);
  request.callback = options.on_complete;
  for (size_t i = 0; i < parameters.size(); ++i) {
    const int64_t count = ElementCount(parameters[i].shape);
    if (count < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", name, "' parameter ", i, ": shape ", ShapeToString(parameters[i].shape),
          " has a negative dimension or too many elements"));
    }
    // One kind of memory per round (the planes it runs on are chosen once).
    if (parameters[i].device != parameters[0].device) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", name, "' parameter ", i, " is on ", DescribeDevice(parameters[i].device),
          " but parameter 0 on ", DescribeDevice(parameters[0].device),
          "; the parameters of one averaging round must all be in the same memory"));
    }
    request.device = parameters[i].device;
    request.parameters.push_back(
        {parameters[i].data, parameters[i].dtype, count, parameters[i].ready_event});
  }
  HILO_ASSIGN_OR_RETURN(std::shared_ptr<Operation> operation,
                        runtime_->Enqueue(std::move(request)));
  return Handle(std::move(operation));
}

absl::StatusOr<double> Context::LatestDiscrepancy() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  std::vector<AveragingRecord> history = runtime_->averaging_history();
  if (history.empty()) return absl::NotFoundError("no averaging round has completed yet");
  return history.back().discrepancy;
}

absl::StatusOr<std::vector<AveragingRecord>> Context::AveragingHistory() const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return runtime_->averaging_history();
}

absl::StatusOr<LocalSgdSchedule> Context::MakeLocalSgdSchedule(int tau,
                                                                int64_t warmup_steps) const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  return LocalSgdSchedule::Create(tau, warmup_steps, runtime_->topology());
}

absl::StatusOr<transport::TransportCounters> Context::TransportCounters(
    CommunicatorKind kind) const {
  HILO_RETURN_IF_ERROR(CheckRunning());
  const int index = static_cast<int>(kind);
  if (index < 0 || index >= kNumCommunicatorKinds) {
    return absl::InvalidArgumentError(absl::StrCat("unknown communicator ", index));
  }
  return runtime_->transport_counters(kind);
}

absl::StatusOr<Handle> Context::Allreduce(absl::string_view name, const TensorView& tensor,
                                          const CollectiveOptions& options) {
  return Enqueue(CollectiveType::kAllreduce, name, tensor, options);
}

absl::StatusOr<Handle> Context::Allgather(absl::string_view name, const TensorView& tensor,
                                          const CollectiveOptions& options) {
  return Enqueue(CollectiveType::kAllgather, name, tensor, options);
}

absl::StatusOr<Handle> Context::Broadcast(absl::string_view name, const TensorView& tensor,
                                          const CollectiveOptions& options) {
  return Enqueue(CollectiveType::kBroadcast, name, tensor, options);
}

absl::StatusOr<Handle> Context::Alltoall(absl::string_view name, const TensorView& tensor,
                                         const CollectiveOptions& options) {
  return Enqueue(CollectiveType::kAlltoall, name, tensor, options);
}

absl::StatusOr<Handle> Context::Reducescatter(absl::string_view name, const TensorView& tensor,
                                              const CollectiveOptions& options) {
  return Enqueue(CollectiveType::kReducescatter, name, tensor, options);
}

}  // namespace hilo
