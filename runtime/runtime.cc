#include "runtime/runtime.h"

#include <utility>

#include "runtime/common/status_macros.h"
#include "runtime/runtime_core.h"

namespace hilo {

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(const RuntimeConfig& config,
                                                        SessionOpener open_session,
                                                        Clock& clock) {
  HILO_ASSIGN_OR_RETURN(std::unique_ptr<RuntimeCore> core,
                        RuntimeCore::Start(config, std::move(open_session), clock));
  return std::unique_ptr<Runtime>(new Runtime(std::move(core)));
}

Runtime::Runtime(std::unique_ptr<RuntimeCore> core) : core_(std::move(core)) {}
Runtime::~Runtime() = default;  // the core shuts down if Shutdown() was not called

const Topology& Runtime::topology() const { return core_->topology(); }
const RuntimeConfig& Runtime::config() const { return core_->config(); }
absl::StatusOr<std::shared_ptr<Operation>> Runtime::Enqueue(TensorRequest request) {
  return core_->Enqueue(std::move(request));
}
absl::Status Runtime::Shutdown() { return core_->Shutdown(); }
absl::StatusOr<int> Runtime::Join() { return core_->Join(); }
absl::Status Runtime::StartTimeline(const std::string& path, bool mark_cycles) {
  return core_->StartTimeline(path, mark_cycles);
}
absl::Status Runtime::StopTimeline() { return core_->StopTimeline(); }
size_t Runtime::queue_depth() const { return core_->queue_depth(); }
bool Runtime::mpi_threads_supported() const { return core_->mpi_threads_supported(); }
void Runtime::CountStep() { core_->CountStep(); }
int64_t Runtime::steps() const { return core_->steps(); }
bool Runtime::running() const { return core_->running(); }
transport::TransportCounters Runtime::transport_counters(CommunicatorKind kind) const {
  return core_->transport_counters(kind);
}
CacheStats Runtime::cache_stats() const { return core_->cache_stats(); }
AgreementCounts Runtime::agreement_counts() const { return core_->agreement_counts(); }
std::vector<StallReport> Runtime::current_stalls() const { return core_->current_stalls(); }
std::vector<AveragingRecord> Runtime::averaging_history() const {
  return core_->averaging_history();
}

}  // namespace hilo
