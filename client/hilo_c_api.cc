// The C ABI (hilo.h) over the C++ API (hilo_cpp.h). Nothing here throws or aborts on caller
// input: every problem becomes a hilo_status_t plus a thread-local message.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/hilo.h"
#include "client/hilo_cpp.h"

struct hilo_context {
  std::unique_ptr<hilo::Context> context;
};

struct hilo_handle {
  hilo::Handle handle;
  // A NUL-terminated copy of the error message, made once the operation is seen done, so the
  // pointer hilo_handle_message returns stays valid until the handle is freed.
  mutable std::once_flag message_once;
  mutable std::string message;
};

// The C ABI's reduce ops are the runtime's, value for value (the options are cast, not mapped).
static_assert(HILO_SUM == static_cast<int>(hilo::ReduceOp::kSum) &&
                  HILO_AVERAGE == static_cast<int>(hilo::ReduceOp::kAverage) &&
                  HILO_MIN == static_cast<int>(hilo::ReduceOp::kMin) &&
                  HILO_MAX == static_cast<int>(hilo::ReduceOp::kMax) &&
                  HILO_PRODUCT == static_cast<int>(hilo::ReduceOp::kProduct),
              "hilo.h's hilo_reduce_op_t must mirror hilo::ReduceOp");

namespace {

// The message of the last failed call on this thread. Thread-local (like errno or dlerror),
// because the C ABI has no status object to carry it.
thread_local std::string last_error;

hilo_status_t Fail(const absl::Status& status) {
  last_error = std::string(status.message());
  return static_cast<hilo_status_t>(status.code());
}

hilo_status_t Fail(hilo_status_t code, std::string message) {
  last_error = std::move(message);
  return code;
}

hilo_status_t ToC(const absl::Status& status) {
  if (status.ok()) return HILO_OK;
  return Fail(status);
}

// The C callback as a C++ completion function (empty when there is no callback).
std::function<void(const absl::Status&)> ToCppCallback(hilo_completion_callback_t callback,
                                                       void* arg) {
  if (callback == nullptr) return nullptr;
  return [callback, arg](const absl::Status& status) {
    const std::string message(status.message());
    callback(static_cast<hilo_status_t>(status.code()), message.c_str(), arg);
  };
}

template <typename Getter>
hilo_status_t GetTopologyField(const hilo_context_t* context, int* out, Getter getter) {
  if (context == nullptr || out == nullptr) {
    return Fail(HILO_INVALID_ARGUMENT, "context and out must not be NULL (call hilo_init first)");
  }
  absl::StatusOr<hilo::Topology> topology = context->context->topology();
  if (!topology.ok()) return Fail(topology.status());
  *out = getter(*topology);
  return HILO_OK;
}

// For the calls that read a finished operation's results.
hilo_status_t RequireDoneAndOk(const hilo_handle_t* handle) {
  if (handle == nullptr) return Fail(HILO_INVALID_ARGUMENT, "handle must not be NULL");
  std::optional<absl::Status> result = handle->handle.result();
  if (!result.has_value()) {
    return Fail(HILO_FAILED_PRECONDITION, "the operation is still in flight");
  }
  if (!result->ok()) {
    return Fail(HILO_FAILED_PRECONDITION,
                absl::StrCat("the operation failed: ", result->message()));
  }
  return HILO_OK;
}

hilo_status_t Enqueue(hilo::CollectiveType collective, hilo_context_t* context, const char* name,
                      const void* data, hilo_dtype_t dtype, int ndims, const int64_t* shape,
                      const hilo_collective_options_t* options, hilo_handle_t** handle,
                      std::vector<int64_t> splits = {}) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  if (name == nullptr) return Fail(HILO_INVALID_ARGUMENT, "tensor name must not be NULL");
  if (handle == nullptr) return Fail(HILO_INVALID_ARGUMENT, "handle out-pointer must not be NULL");
  if (ndims < 0) return Fail(HILO_INVALID_ARGUMENT, absl::StrCat("'", name, "': ndims ", ndims, " is negative"));
  if (ndims > 0 && shape == nullptr) {
    return Fail(HILO_INVALID_ARGUMENT, absl::StrCat("'", name, "': shape is NULL but ndims is ", ndims));
  }
  hilo_collective_options_t resolved;
  hilo_collective_options_init(&resolved);
  if (options != nullptr) {
    if (options->struct_size < offsetof(hilo_collective_options_t, callback_arg) + sizeof(void*)) {
      return Fail(HILO_INVALID_ARGUMENT,
                  "options->struct_size is too small; initialize options with "
                  "hilo_collective_options_init");
    }
    // A caller built against an older header knows fewer fields: the rest keep their defaults.
    std::memcpy(&resolved, options, std::min(options->struct_size, sizeof(resolved)));
    resolved.struct_size = sizeof(resolved);
  }
  hilo::TensorView tensor;
  tensor.data = const_cast<void*>(data);  // allgather only reads it
  tensor.dtype = static_cast<hilo::DataType>(dtype);
  tensor.shape.assign(shape, shape + ndims);
  tensor.device = resolved.device;
  tensor.ready_event = resolved.ready_event;
  hilo::CollectiveOptions cpp_options;
  cpp_options.communicator = static_cast<hilo::CommunicatorKind>(resolved.communicator);
  cpp_options.reduce_op = static_cast<hilo::ReduceOp>(resolved.reduce_op);
  cpp_options.root_rank = resolved.root_rank;
  cpp_options.splits = std::move(splits);
  cpp_options.on_complete = ToCppCallback(resolved.callback, resolved.callback_arg);
  absl::StatusOr<hilo::Handle> result;
  switch (collective) {
    case hilo::CollectiveType::kAllreduce:
      result = context->context->Allreduce(name, tensor, cpp_options);
      break;
    case hilo::CollectiveType::kAllgather:
      result = context->context->Allgather(name, tensor, cpp_options);
      break;
    case hilo::CollectiveType::kBroadcast:
      result = context->context->Broadcast(name, tensor, cpp_options);
      break;
    case hilo::CollectiveType::kReducescatter:
      result = context->context->Reducescatter(name, tensor, cpp_options);
      break;
    case hilo::CollectiveType::kAlltoall:
      result = context->context->Alltoall(name, tensor, cpp_options);
      break;
    case hilo::CollectiveType::kAverageAcrossGroups:  // enqueued by its own function
      return Fail(HILO_INTERNAL, "averaging rounds are not enqueued as single tensors");
  }
  if (!result.ok()) return Fail(result.status());
  *handle = new hilo_handle{*std::move(result)};
  return HILO_OK;
}

}  // namespace

extern "C" {

void hilo_collective_options_init(hilo_collective_options_t* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->communicator = HILO_COMM_WORLD;
  options->reduce_op = HILO_SUM;
  options->root_rank = 0;
  options->device = -1;
  options->ready_event = nullptr;
}

hilo_status_t hilo_init(hilo_context_t** context) {
  if (context == nullptr) return Fail(HILO_INVALID_ARGUMENT, "context out-pointer must not be NULL");
  absl::StatusOr<std::unique_ptr<hilo::Context>> created = hilo::Context::Init();
  if (!created.ok()) return Fail(created.status());
  *context = new hilo_context{*std::move(created)};
  return HILO_OK;
}

hilo_status_t hilo_shutdown(hilo_context_t* context) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  return ToC(context->context->Shutdown());
}

hilo_status_t hilo_join(hilo_context_t* context, int* last_joined_rank) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  absl::StatusOr<int> last = context->context->Join();
  if (!last.ok()) return ToC(last.status());
  if (last_joined_rank != nullptr) *last_joined_rank = *last;
  return HILO_OK;
}

hilo_status_t hilo_mpi_threads_supported(const hilo_context_t* context, int* out) {
  if (context == nullptr) {
    return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  }
  if (out == nullptr) return Fail(HILO_INVALID_ARGUMENT, "out must not be NULL");
  absl::StatusOr<bool> supported = context->context->mpi_threads_supported();
  if (!supported.ok()) return ToC(supported.status());
  *out = *supported ? 1 : 0;
  return HILO_OK;
}

hilo_status_t hilo_start_timeline(hilo_context_t* context, const char* path, int mark_cycles) {
  if (context == nullptr) {
    return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  }
  if (path == nullptr) return Fail(HILO_INVALID_ARGUMENT, "timeline path must not be NULL");
  return ToC(context->context->StartTimeline(path, mark_cycles != 0));
}

hilo_status_t hilo_stop_timeline(hilo_context_t* context) {
  if (context == nullptr) {
    return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  }
  return ToC(context->context->StopTimeline());
}

void hilo_context_free(hilo_context_t* context) { delete context; }

const char* hilo_last_error(void) { return last_error.c_str(); }

const char* hilo_status_name(hilo_status_t status) {
  switch (status) {
    case HILO_OK: return "HILO_OK";
    case HILO_CANCELLED: return "HILO_CANCELLED";
    case HILO_UNKNOWN: return "HILO_UNKNOWN";
    case HILO_INVALID_ARGUMENT: return "HILO_INVALID_ARGUMENT";
    case HILO_DEADLINE_EXCEEDED: return "HILO_DEADLINE_EXCEEDED";
    case HILO_NOT_FOUND: return "HILO_NOT_FOUND";
    case HILO_ALREADY_EXISTS: return "HILO_ALREADY_EXISTS";
    case HILO_PERMISSION_DENIED: return "HILO_PERMISSION_DENIED";
    case HILO_RESOURCE_EXHAUSTED: return "HILO_RESOURCE_EXHAUSTED";
    case HILO_FAILED_PRECONDITION: return "HILO_FAILED_PRECONDITION";
    case HILO_ABORTED: return "HILO_ABORTED";
    case HILO_OUT_OF_RANGE: return "HILO_OUT_OF_RANGE";
    case HILO_UNIMPLEMENTED: return "HILO_UNIMPLEMENTED";
    case HILO_INTERNAL: return "HILO_INTERNAL";
    case HILO_UNAVAILABLE: return "HILO_UNAVAILABLE";
    case HILO_DATA_LOSS: return "HILO_DATA_LOSS";
    case HILO_UNAUTHENTICATED: return "HILO_UNAUTHENTICATED";
    case HILO_IN_PROGRESS: return "HILO_IN_PROGRESS";
  }
  return "HILO_UNKNOWN_STATUS";
}

hilo_status_t hilo_rank(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.world_rank; });
}
hilo_status_t hilo_size(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.world_size; });
}
hilo_status_t hilo_group(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.group; });
}
hilo_status_t hilo_group_rank(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.group_rank; });
}
hilo_status_t hilo_group_size(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.group_size; });
}
hilo_status_t hilo_num_groups(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.num_groups; });
}
hilo_status_t hilo_local_rank(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.local_rank; });
}
hilo_status_t hilo_local_size(const hilo_context_t* c, int* out) {
  return GetTopologyField(c, out, [](const hilo::Topology& t) { return t.local_size; });
}

hilo_status_t hilo_allreduce_async(hilo_context_t* context, const char* name, void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle) {
  return Enqueue(hilo::CollectiveType::kAllreduce, context, name, data, dtype, ndims, shape,
                 options, handle);
}

hilo_status_t hilo_allgather_async(hilo_context_t* context, const char* name, const void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle) {
  return Enqueue(hilo::CollectiveType::kAllgather, context, name, data, dtype, ndims, shape,
                 options, handle);
}

hilo_status_t hilo_broadcast_async(hilo_context_t* context, const char* name, void* data,
                                   hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                   const hilo_collective_options_t* options,
                                   hilo_handle_t** handle) {
  return Enqueue(hilo::CollectiveType::kBroadcast, context, name, data, dtype, ndims, shape,
                 options, handle);
}

hilo_status_t hilo_alltoall_async(hilo_context_t* context, const char* name, const void* data,
                                  hilo_dtype_t dtype, int ndims, const int64_t* shape,
                                  const int64_t* splits, int num_splits,
                                  const hilo_collective_options_t* options,
                                  hilo_handle_t** handle) {
  if (num_splits < 0 || (num_splits > 0 && splits == nullptr)) {
    return Fail(HILO_INVALID_ARGUMENT,
                absl::StrCat("'", name == nullptr ? "" : name, "': splits is NULL or num_splits (",
                             num_splits, ") is negative"));
  }
  return Enqueue(hilo::CollectiveType::kAlltoall, context, name, data, dtype, ndims, shape,
                 options, handle, std::vector<int64_t>(splits, splits + num_splits));
}

hilo_status_t hilo_reducescatter_async(hilo_context_t* context, const char* name,
                                       const void* data, hilo_dtype_t dtype, int ndims,
                                       const int64_t* shape,
                                       const hilo_collective_options_t* options,
                                       hilo_handle_t** handle) {
  return Enqueue(hilo::CollectiveType::kReducescatter, context, name, data, dtype, ndims, shape,
                 options, handle);
}

void hilo_averaging_options_init(hilo_averaging_options_t* options) {
  if (options == nullptr) return;
  std::memset(options, 0, sizeof(*options));
  options->struct_size = sizeof(*options);
  options->algorithm = HILO_AVERAGING_DEFAULT;
  options->check_group_consistency = -1;
  options->device = -1;
}

hilo_status_t hilo_average_across_groups_async(hilo_context_t* context, const char* name,
                                               const hilo_parameter_t* parameters,
                                               int num_parameters,
                                               const hilo_averaging_options_t* options,
                                               hilo_handle_t** handle) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  if (name == nullptr) return Fail(HILO_INVALID_ARGUMENT, "round name must not be NULL");
  if (handle == nullptr) return Fail(HILO_INVALID_ARGUMENT, "handle out-pointer must not be NULL");
  if (num_parameters < 0 || (num_parameters > 0 && parameters == nullptr)) {
    return Fail(HILO_INVALID_ARGUMENT,
                absl::StrCat("'", name, "': ", num_parameters, " parameters at ",
                             parameters == nullptr ? "NULL" : "a valid pointer"));
  }
  hilo_averaging_options_t resolved;
  hilo_averaging_options_init(&resolved);
  if (options != nullptr) {
    if (options->struct_size < offsetof(hilo_averaging_options_t, callback_arg) + sizeof(void*)) {
      return Fail(HILO_INVALID_ARGUMENT,
                  "options->struct_size is too small; initialize options with "
                  "hilo_averaging_options_init");
    }
    // A caller built against an older header knows fewer fields: the rest keep their defaults.
    std::memcpy(&resolved, options, std::min(options->struct_size, sizeof(resolved)));
    resolved.struct_size = sizeof(resolved);
  }
  hilo::AveragingOptions cpp_options;
  if (resolved.algorithm != HILO_AVERAGING_DEFAULT) {
    cpp_options.algorithm = static_cast<hilo::AveragingAlgorithm>(resolved.algorithm);
  }
  if (resolved.check_group_consistency >= 0) {
    cpp_options.check_group_consistency = resolved.check_group_consistency != 0;
  }
  cpp_options.on_complete = ToCppCallback(resolved.callback, resolved.callback_arg);
  std::vector<hilo::TensorView> views;
  views.reserve(num_parameters);
  for (int i = 0; i < num_parameters; ++i) {
    views.push_back({parameters[i].data, static_cast<hilo::DataType>(parameters[i].dtype),
                     {parameters[i].count}, resolved.device, resolved.ready_event});
  }
  absl::StatusOr<hilo::Handle> result =
      context->context->AverageAcrossGroups(name, views, cpp_options);
  if (!result.ok()) return Fail(result.status());
  *handle = new hilo_handle{*std::move(result)};
  return HILO_OK;
}

hilo_status_t hilo_handle_discrepancy(const hilo_handle_t* handle, double* discrepancy) {
  if (handle == nullptr || discrepancy == nullptr) {
    return Fail(HILO_INVALID_ARGUMENT, "handle and discrepancy must not be NULL");
  }
  std::optional<double> value = handle->handle.discrepancy();
  if (!value.has_value()) {
    return Fail(HILO_FAILED_PRECONDITION,
                "no discrepancy: the handle is not a completed, successful averaging round");
  }
  *discrepancy = *value;
  return HILO_OK;
}

hilo_status_t hilo_discrepancy_history(const hilo_context_t* context, double* values,
                                       int capacity, int* available) {
  if (context == nullptr || available == nullptr || capacity < 0 ||
      (capacity > 0 && values == nullptr)) {
    return Fail(HILO_INVALID_ARGUMENT,
                "context and available must not be NULL, and values must hold capacity >= 0");
  }
  absl::StatusOr<std::vector<hilo::AveragingRecord>> history = context->context->AveragingHistory();
  if (!history.ok()) return Fail(history.status());
  const size_t n = history->size();
  const size_t written = std::min(n, static_cast<size_t>(capacity));
  for (size_t i = 0; i < written; ++i) values[i] = (*history)[n - written + i].discrepancy;
  *available = static_cast<int>(n);
  return HILO_OK;
}

hilo_status_t hilo_transport_stats(const hilo_context_t* context,
                                   hilo_communicator_t communicator, int64_t* bytes,
                                   int64_t* calls) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  absl::StatusOr<hilo::transport::TransportCounters> counters =
      context->context->TransportCounters(static_cast<hilo::CommunicatorKind>(communicator));
  if (!counters.ok()) return Fail(counters.status());
  if (bytes != nullptr) *bytes = counters->bytes;
  if (calls != nullptr) *calls = counters->calls;
  return HILO_OK;
}

hilo_status_t hilo_local_sgd_step(const hilo_context_t* context, int tau, int64_t warmup_steps,
                                  int64_t step, hilo_local_sgd_step_t* out) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  if (out == nullptr) return Fail(HILO_INVALID_ARGUMENT, "out must not be NULL");
  absl::StatusOr<hilo::LocalSgdSchedule> schedule =
      context->context->MakeLocalSgdSchedule(tau, warmup_steps);
  if (!schedule.ok()) return Fail(schedule.status());
  const hilo::LocalSgdStep plan = schedule->Step(step);
  out->warmup = plan.warmup ? 1 : 0;
  out->allreduce_gradients = plan.allreduce_gradients ? 1 : 0;
  out->gradient_communicator = static_cast<hilo_communicator_t>(plan.gradient_communicator);
  out->average_model = plan.average_model ? 1 : 0;
  return HILO_OK;
}

hilo_status_t hilo_cache_stats(const hilo_context_t* context, int64_t* hits, int64_t* misses) {
  if (context == nullptr) return Fail(HILO_FAILED_PRECONDITION, "hilo is not initialized (NULL context)");
  absl::StatusOr<hilo::CacheStats> stats = context->context->ResponseCacheStats();
  if (!stats.ok()) return Fail(stats.status());
  if (hits != nullptr) *hits = stats->hits;
  if (misses != nullptr) *misses = stats->misses;
  return HILO_OK;
}

int hilo_poll(const hilo_handle_t* handle) {
  if (handle == nullptr) return -1;
  return handle->handle.Poll() ? 1 : 0;
}

hilo_status_t hilo_wait(const hilo_handle_t* handle, double timeout_seconds) {
  if (handle == nullptr) return Fail(HILO_INVALID_ARGUMENT, "handle must not be NULL");
  const absl::Duration timeout = (timeout_seconds < 0 || std::isnan(timeout_seconds))
                                     ? absl::InfiniteDuration()
                                     : absl::Seconds(timeout_seconds);
  return ToC(handle->handle.Wait(timeout));
}

hilo_status_t hilo_handle_status(const hilo_handle_t* handle) {
  if (handle == nullptr) return Fail(HILO_INVALID_ARGUMENT, "handle must not be NULL");
  std::optional<absl::Status> result = handle->handle.result();
  if (!result.has_value()) return HILO_IN_PROGRESS;
  return static_cast<hilo_status_t>(result->code());
}

const char* hilo_handle_message(const hilo_handle_t* handle) {
  if (handle == nullptr) return "";
  std::optional<absl::Status> result = handle->handle.result();
  if (!result.has_value()) return "";
  std::call_once(handle->message_once,
                 [&] { handle->message = std::string(result->message()); });
  return handle->message.c_str();
}

hilo_status_t hilo_handle_output(const hilo_handle_t* handle, const void** data,
                                 size_t* num_bytes, int* ndims, const int64_t** shape) {
  if (const hilo_status_t status = RequireDoneAndOk(handle); status != HILO_OK) return status;
  if (handle->handle.output_shape().empty()) {
    return Fail(HILO_FAILED_PRECONDITION,
                "only allgather, reducescatter and alltoall handles have an output");
  }
  if (data != nullptr) *data = handle->handle.output().data();
  if (num_bytes != nullptr) *num_bytes = handle->handle.output().size();
  if (ndims != nullptr) *ndims = static_cast<int>(handle->handle.output_shape().size());
  if (shape != nullptr) *shape = handle->handle.output_shape().data();
  return HILO_OK;
}

hilo_status_t hilo_handle_received_splits(const hilo_handle_t* handle, const int64_t** splits,
                                          int* count) {
  if (const hilo_status_t status = RequireDoneAndOk(handle); status != HILO_OK) return status;
  if (handle->handle.received_splits().empty()) {
    return Fail(HILO_FAILED_PRECONDITION, "only alltoall handles have received splits");
  }
  if (splits != nullptr) *splits = handle->handle.received_splits().data();
  if (count != nullptr) *count = static_cast<int>(handle->handle.received_splits().size());
  return HILO_OK;
}

void hilo_handle_free(hilo_handle_t* handle) { delete handle; }

}  // extern "C"
