// _hilo: the Python extension under the `hilo` package (client/python/hilo). A thin layer over the
// C++ API (client/hilo_cpp.h): tensors arrive as (address, dtype, shape) from numpy arrays or
// torch tensors, so hilo never copies them and needs neither library at build time. Errors become
// hilo.HiloError carrying the runtime's status code and message. Waits release the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/hilo_cpp.h"

namespace py = pybind11;

namespace hilo::python {
namespace {

// Thrown for a non-OK Status; registered as hilo.HiloError (a RuntimeError).
class StatusError : public std::runtime_error {
 public:
  explicit StatusError(const absl::Status& status)
      : std::runtime_error(absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                        status.message())) {}
};

// ALREADY_EXISTS: a name already in flight. Registered as hilo.DuplicateNameError, both a
// HiloError and a ValueError, the type Horovod raises for it.
class DuplicateNameError : public StatusError {
 public:
  using StatusError::StatusError;
};

// INVALID_ARGUMENT: a call's arguments are wrong (alone, or against the other ranks'). Registered
// as hilo.InvalidArgumentError, both a HiloError and a ValueError, as Horovod raises for them.
class InvalidArgumentError : public StatusError {
 public:
  using StatusError::StatusError;
};

void ThrowIfError(const absl::Status& status) {
  if (status.ok()) return;
  if (absl::IsAlreadyExists(status)) throw DuplicateNameError(status);
  if (absl::IsInvalidArgument(status)) throw InvalidArgumentError(status);
  throw StatusError(status);
}

template <typename T>
T ValueOrThrow(absl::StatusOr<T> value) {
  ThrowIfError(value.status());
  return *std::move(value);
}

TensorView View(uintptr_t address, DataType dtype, std::vector<int64_t> shape) {
  return TensorView{reinterpret_cast<void*>(address), dtype, std::move(shape)};
}

class HandleBinding {
 public:
  explicit HandleBinding(Handle handle) : handle_(std::move(handle)) {}

  bool Poll() const { return handle_.Poll(); }

  // Blocks (without the GIL) until done; raises the operation's error. `timeout_s` None: no limit.
  void Wait(std::optional<double> timeout_s) const {
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = handle_.Wait(timeout_s ? absl::Seconds(*timeout_s) : absl::InfiniteDuration());
    }
    ThrowIfError(status);
  }

  py::bytes Output() const {
    const std::vector<char>& data = handle_.output();
    return py::bytes(data.data(), data.size());
  }
  std::vector<int64_t> OutputShape() const { return handle_.output_shape(); }
  std::optional<double> Discrepancy() const { return handle_.discrepancy(); }
  std::vector<int64_t> ReceivedSplits() const { return handle_.received_splits(); }

 private:
  Handle handle_;
};

class ContextBinding {
 public:
  static std::unique_ptr<ContextBinding> Init() {
    std::unique_ptr<Context> context;
    {
      py::gil_scoped_release release;  // collective: other ranks may take a while
      context = ValueOrThrow(Context::Init());
    }
    return std::unique_ptr<ContextBinding>(new ContextBinding(std::move(context)));
  }

  int Join() {
    absl::StatusOr<int> last = absl::UnknownError("not run");
    {
      py::gil_scoped_release release;
      last = context_->Join();
    }
    return ValueOrThrow(std::move(last));
  }

  void StartTimeline(const std::string& path, bool mark_cycles) {
    ThrowIfError(context_->StartTimeline(path, mark_cycles));
  }
  void StopTimeline() { ThrowIfError(context_->StopTimeline()); }
  bool MpiThreadsSupported() const { return ValueOrThrow(context_->mpi_threads_supported()); }

  void Shutdown() {
    absl::Status status;
    {
      py::gil_scoped_release release;
      status = context_->Shutdown();
    }
    ThrowIfError(status);
  }

  py::dict Topology() const {
    const hilo::Topology t = ValueOrThrow(context_->topology());
    py::dict topology;
    topology["rank"] = t.world_rank;
    topology["size"] = t.world_size;
    topology["group"] = t.group;
    topology["group_rank"] = t.group_rank;
    topology["group_size"] = t.group_size;
    topology["num_groups"] = t.num_groups;
    topology["local_rank"] = t.local_rank;
    topology["local_size"] = t.local_size;
    return topology;
  }

  HandleBinding Enqueue(CollectiveType collective, const std::string& name, uintptr_t address,
                        DataType dtype, std::vector<int64_t> shape, CommunicatorKind communicator,
                        ReduceOp op, int root_rank, int device, uintptr_t ready_event,
                        std::vector<int64_t> splits) {
    CollectiveOptions options;
    options.splits = std::move(splits);
    options.communicator = communicator;
    options.reduce_op = op;
    options.root_rank = root_rank;
    TensorView view = View(address, dtype, std::move(shape));
    view.device = device;
    view.ready_event = reinterpret_cast<void*>(ready_event);
    switch (collective) {
      case CollectiveType::kAllreduce:
        return HandleBinding(ValueOrThrow(context_->Allreduce(name, view, options)));
      case CollectiveType::kAllgather:
        return HandleBinding(ValueOrThrow(context_->Allgather(name, view, options)));
      case CollectiveType::kBroadcast:
        return HandleBinding(ValueOrThrow(context_->Broadcast(name, view, options)));
      case CollectiveType::kAlltoall:
        return HandleBinding(ValueOrThrow(context_->Alltoall(name, view, options)));
      case CollectiveType::kReducescatter:
        return HandleBinding(ValueOrThrow(context_->Reducescatter(name, view, options)));
      case CollectiveType::kAverageAcrossGroups:
        break;  // average_across_groups takes its parameters
    }
    throw StatusError(absl::InvalidArgumentError(
        "enqueue takes allreduce, allgather, broadcast, alltoall or reducescatter"));
  }

  // `parameters`: (address, dtype, shape, device) per tensor, in the same order on every rank;
  // `ready_event`: for CUDA parameters, one event recorded after all of them were last written.
  HandleBinding AverageAcrossGroups(
      const std::string& name,
      const std::vector<std::tuple<uintptr_t, DataType, std::vector<int64_t>, int>>& parameters,
      std::optional<AveragingAlgorithm> algorithm, uintptr_t ready_event) {
    std::vector<TensorView> views;
    for (const auto& [address, dtype, shape, device] : parameters) {
      views.push_back(View(address, dtype, shape));
      views.back().device = device;
      views.back().ready_event = reinterpret_cast<void*>(ready_event);
    }
    AveragingOptions options;
    if (algorithm) options.algorithm = *algorithm;
    return HandleBinding(ValueOrThrow(context_->AverageAcrossGroups(name, views, options)));
  }

  py::dict TransportCounters(CommunicatorKind communicator) const {
    const transport::TransportCounters counters =
        ValueOrThrow(context_->TransportCounters(communicator));
    py::dict result;
    result["calls"] = counters.calls;
    result["bytes"] = counters.bytes;
    return result;
  }

  void CountStep() { context_->CountStep(); }

  // The local-SGD plan of `step` (runtime/averaging/local_sgd_schedule.h).
  py::dict LocalSgdStep(int tau, int64_t warmup_steps, int64_t step) const {
    const LocalSgdSchedule schedule = ValueOrThrow(context_->MakeLocalSgdSchedule(tau, warmup_steps));
    const hilo::LocalSgdStep plan = schedule.Step(step);
    py::dict result;
    result["warmup"] = plan.warmup;
    result["allreduce_gradients"] = plan.allreduce_gradients;
    result["gradient_communicator"] = std::string(CommunicatorKindName(plan.gradient_communicator));
    result["average_model"] = plan.average_model;
    return result;
  }

  // What the launcher asked for (hilorun --averaging-period, --warmup-steps); 0 / 0 if nothing.
  std::pair<int, int64_t> ScheduleSettings() const {
    return {context_->config().averaging_period, context_->config().warmup_steps};
  }

 private:
  explicit ContextBinding(std::unique_ptr<Context> context) : context_(std::move(context)) {}
  std::unique_ptr<Context> context_;
};

}  // namespace
}  // namespace hilo::python

PYBIND11_MODULE(_hilo, m) {
  using namespace hilo::python;
  using hilo::AveragingAlgorithm;
  using hilo::CollectiveType;
  using hilo::CommunicatorKind;
  using hilo::DataType;
  using hilo::DataTypeName;
  using hilo::kNumDataTypes;
  using hilo::ReduceOp;
  m.doc() = "hilo's C++ runtime; use the `hilo` package instead of this module.";
  py::object hilo_error = py::register_exception<StatusError>(m, "HiloError", PyExc_RuntimeError);
  // Registered after HiloError, so tried first for the derived type.
  py::register_exception<DuplicateNameError>(
      m, "DuplicateNameError", py::make_tuple(hilo_error, py::handle(PyExc_ValueError)));
  py::register_exception<InvalidArgumentError>(
      m, "InvalidArgumentError", py::make_tuple(hilo_error, py::handle(PyExc_ValueError)));
  // The runtime's enums, by the runtime's names: the hilo package maps its public constants and
  // the names its API documents onto these, and nothing parses strings in C++.
  py::enum_<ReduceOp>(m, "ReduceOp")
      .value("SUM", ReduceOp::kSum)
      .value("AVERAGE", ReduceOp::kAverage)
      .value("MIN", ReduceOp::kMin)
      .value("MAX", ReduceOp::kMax)
      .value("PRODUCT", ReduceOp::kProduct);
  py::enum_<CommunicatorKind>(m, "Communicator")
      .value("WORLD", CommunicatorKind::kWorld)
      .value("GROUP", CommunicatorKind::kGroup)
      .value("CROSS", CommunicatorKind::kCross);
  py::enum_<CollectiveType>(m, "Collective")
      .value("ALLREDUCE", CollectiveType::kAllreduce)
      .value("ALLGATHER", CollectiveType::kAllgather)
      .value("BROADCAST", CollectiveType::kBroadcast)
      .value("REDUCESCATTER", CollectiveType::kReducescatter)
      .value("ALLTOALL", CollectiveType::kAlltoall);
  py::enum_<AveragingAlgorithm>(m, "AveragingAlgorithm")
      .value("SHARDED", AveragingAlgorithm::kSharded)
      .value("WORLD_ALLREDUCE", AveragingAlgorithm::kWorldAllreduce);
  py::enum_<DataType> dtypes(m, "DataType");
  for (int i = 0; i < kNumDataTypes; ++i) {
    dtypes.value(DataTypeName(static_cast<DataType>(i)), static_cast<DataType>(i));
  }
  py::class_<HandleBinding>(m, "Handle")
      .def("poll", &HandleBinding::Poll)
      .def("wait", &HandleBinding::Wait, py::arg("timeout_s") = py::none())
      .def("output", &HandleBinding::Output)
      .def("output_shape", &HandleBinding::OutputShape)
      .def("discrepancy", &HandleBinding::Discrepancy)
      .def("received_splits", &HandleBinding::ReceivedSplits);
  py::class_<ContextBinding>(m, "Context")
      .def_static("init", &ContextBinding::Init)
      .def("shutdown", &ContextBinding::Shutdown)
      .def("join", &ContextBinding::Join)
      .def("start_timeline", &ContextBinding::StartTimeline)
      .def("stop_timeline", &ContextBinding::StopTimeline)
      .def("mpi_threads_supported", &ContextBinding::MpiThreadsSupported)
      .def("topology", &ContextBinding::Topology)
      .def("enqueue", &ContextBinding::Enqueue, py::arg("collective"), py::arg("name"),
           py::arg("address"), py::arg("dtype"), py::arg("shape"), py::arg("communicator"),
           py::arg("op"), py::arg("root_rank"), py::arg("device") = -1,
           py::arg("ready_event") = 0, py::arg("splits") = std::vector<int64_t>{})
      .def("average_across_groups", &ContextBinding::AverageAcrossGroups, py::arg("name"),
           py::arg("parameters"), py::arg("algorithm"), py::arg("ready_event") = 0)
      .def("transport_counters", &ContextBinding::TransportCounters)
      .def("count_step", &ContextBinding::CountStep)
      .def("local_sgd_step", &ContextBinding::LocalSgdStep)
      .def("schedule_settings", &ContextBinding::ScheduleSettings);
  // Needs no init, as Horovod's nccl_built() and friends.
  m.def("build_info", []() {
    const hilo::BuildInfo build = hilo::GetBuildInfo();
    py::dict result;
    result["cuda"] = build.cuda;
    result["nccl_version"] = build.nccl_version;
    return result;
  });
}
