// What the runtime is asked to do with one tensor, and the shared completion state of that request.
//
// An Operation is created by Runtime::Enqueue and shared between the caller's handle and the
// runtime. The coordinator thread (or the averaging thread, for a round) completes it exactly
// once; any thread may poll or wait on it.
//
//   std::shared_ptr<Operation> op = *runtime.Enqueue(request);
//   if (op->WaitFor(absl::Seconds(30))) CHECK_OK(op->status());
#ifndef HILO_RUNTIME_OPERATION_H_
#define HILO_RUNTIME_OPERATION_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "kernels/dtype.h"
#include "runtime/parameters.h"
#include "runtime/topology.h"

namespace hilo {

enum class CollectiveType : int {
  kAllreduce = 0,
  kAllgather = 1,
  kBroadcast = 2,
  kAverageAcrossGroups = 3,  // a cross-group model-averaging round over `parameters`
  kReducescatter = 4,        // sum or average; rank r keeps block r of the first dimension
  kAlltoall = 5,             // rows splits[j] of the first dimension go to rank j
};
// Horovod's ops (hvd.Sum, hvd.Average, hvd.Min, hvd.Max, hvd.Product); the values are the
// proto's and the C ABI's.
enum class ReduceOp : int { kSum = 0, kAverage = 1, kMin = 2, kMax = 3, kProduct = 4 };

absl::string_view CollectiveTypeName(CollectiveType type);
absl::string_view ReduceOpName(ReduceOp op);

class Operation {
 public:
  // Runs once on the thread that ran the operation (the coordinator's; an averaging round's may
  // be the averaging thread, runtime/averaging/averaging_thread.h) when it completes, before done() turns
  // true and before waiters wake (so their Wait() returning implies the callback has run). It
  // must not wait on this or other operations.
  using Callback = std::function<void(const absl::Status&)>;

  explicit Operation(Callback callback = nullptr) : callback_(std::move(callback)) {}
  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  // Non-blocking.
  bool done() const { return done_.HasBeenNotified(); }
  // Blocks until done or `timeout` passes; returns done().
  bool WaitFor(absl::Duration timeout) const {
    return done_.WaitForNotificationWithTimeout(timeout);
  }
  // The result; meaningful only once done() is true.
  const absl::Status& status() const { return status_; }
  // Allgather, reducescatter and alltoall results, owned by the operation; empty for in-place
  // collectives.
  const std::vector<char>& output() const { return output_; }
  const std::vector<int64_t>& output_shape() const { return output_shape_; }
  // Averaging rounds: the model discrepancy the round measured; nullopt otherwise.
  const std::optional<double>& discrepancy() const { return discrepancy_; }
  // Alltoall: the rows received from each communicator rank, in rank order; empty otherwise.
  const std::vector<int64_t>& received_splits() const { return received_splits_; }

  // Called once, by the runtime.
  void Complete(absl::Status status, std::vector<char> output = {},
                std::vector<int64_t> output_shape = {});
  // Called by the runtime before Complete, for averaging rounds.
  void set_discrepancy(double discrepancy) { discrepancy_ = discrepancy; }
  // Called by the runtime before Complete, for alltoalls.
  void set_received_splits(std::vector<int64_t> splits) { received_splits_ = std::move(splits); }

 private:
  // Written once by Complete() before done_ is notified; read only after it is (the
  // notification orders the accesses, so no mutex is needed).
  absl::Status status_;
  std::vector<char> output_;
  std::vector<int64_t> output_shape_;
  std::optional<double> discrepancy_;
  std::vector<int64_t> received_splits_;
  Callback callback_;
  absl::Notification done_;
};

// A request to run one collective on one tensor, as given to Runtime::Enqueue.
struct TensorRequest {
  std::string name;  // unique among this rank's in-flight tensors on `communicator`
  CollectiveType collective = CollectiveType::kAllreduce;
  CommunicatorKind communicator = CommunicatorKind::kWorld;
  ReduceOp reduce_op = ReduceOp::kSum;  // allreduce only
  DataType dtype = DataType::kFloat32;
  std::vector<int64_t> shape;
  // Memory of shape's element count: host memory, or CUDA device memory on `device`. Allreduce
  // and broadcast work in place; allgather reads it and leaves the result in the Operation. Must
  // stay valid until the operation is done.
  void* data = nullptr;
  // -1: `data` is host memory (MPI data plane). Otherwise the CUDA device holding it (NCCL data
  // plane; allreduce and broadcast).
  int device = -1;
  // Device tensors: a cudaEvent_t the framework recorded on its stream after producing the tensor
  // (nullptr: nothing pending). The transport's stream waits for it before reading the tensor.
  void* ready_event = nullptr;
  int root_rank = 0;  // broadcast only: rank within `communicator`
  // Alltoall only: rows of the first dimension for each rank of `communicator`, in rank order
  // (empty: an even split, which the runtime fills in).
  std::vector<int64_t> splits;
  // kAverageAcrossGroups only (runs on the world communicator; data/dtype/shape unused).
  std::vector<ParameterTensor> parameters;
  AveragingAlgorithm algorithm = AveragingAlgorithm::kSharded;
  bool check_group_consistency = false;
  Operation::Callback callback;
};

// Product of the dims, or -1 when a dim is negative or the product overflows int64.
int64_t ElementCount(const std::vector<int64_t>& shape);

// "[2, 3]"
std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace hilo

#endif  // HILO_RUNTIME_OPERATION_H_
