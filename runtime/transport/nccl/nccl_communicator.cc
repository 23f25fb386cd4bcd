#include "runtime/transport/nccl/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/common/status_macros.h"

namespace hilo::transport {

struct NcclCommunicator::Handles {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t done = nullptr;   // recorded by Synchronize() after the last call
  int32_t* barrier_word = nullptr;  // device scratch for Barrier()
};

namespace {

ncclDataType_t ToNccl(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32: return ncclFloat32;
    case DataType::kFloat64: return ncclFloat64;
    case DataType::kFloat16: return ncclFloat16;
    case DataType::kBFloat16: return ncclBfloat16;
    case DataType::kInt32: return ncclInt32;
    case DataType::kInt64: return ncclInt64;
  }
  return ncclFloat32;
}

const char* ByteOffset(const void* base, int64_t elements, DataType dtype) {
  return static_cast<const char*>(base) + elements * static_cast<int64_t>(DataTypeSize(dtype));
}

// NCCL's allgather and reduce-scatter need one count for every rank.
bool AllEqual(absl::Span<const int64_t> counts) {
  return std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == counts[0]; });
}

// Polls `done` until it says the work is finished, with a short yielding phase, then sleeps
// doubling up to 1 ms. `done` returns OK when finished, UNAVAILABLE to keep waiting, or an error.
template <typename Done>
absl::Status PollUntil(absl::Time deadline, Done done) {
  auto pause = std::chrono::microseconds(5);
  for (int polls = 0;; ++polls) {
    absl::Status status = done();
    if (status.ok() || !absl::IsUnavailable(status)) return status;
    if (absl::Now() > deadline) return absl::DeadlineExceededError("timed out");
    if (polls < 100) {
      std::this_thread::yield();
      continue;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create(
    ControlChannel& bootstrap, int device, std::string name, absl::Duration timeout) {
  const std::string where = absl::StrCat(name, " (rank ", bootstrap.rank(), " of ",
                                         bootstrap.size(), ", cuda:", device, ")");
  if (cudaError_t error = cudaSetDevice(device); error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cudaSetDevice on ", where, ": ",
                                               cudaGetErrorString(error)));
  }
  // Rank 0's unique id reaches everybody over the control channel (the MPI bootstrap).
  std::string id_bytes;
  if (bootstrap.rank() == 0) {
    ncclUniqueId id;
    if (ncclResult_t result = ncclGetUniqueId(&id); result != ncclSuccess) {
      id_bytes.clear();  // the others learn of the failure from the empty id
      HILO_RETURN_IF_ERROR(bootstrap.BroadcastFromRoot(&id_bytes));
      return absl::UnavailableError(absl::StrCat("ncclGetUniqueId on ", where, ": ",
                                                 ncclGetErrorString(result)));
    }
    id_bytes.assign(id.internal, sizeof(id.internal));
  }
  HILO_RETURN_IF_ERROR(bootstrap.BroadcastFromRoot(&id_bytes));
  if (id_bytes.size() != sizeof(ncclUniqueId::internal)) {
    return absl::UnavailableError(
        absl::StrCat("NCCL communicator ", where, ": rank 0 could not create a unique id"));
  }
  ncclUniqueId id;
  std::memcpy(id.internal, id_bytes.data(), sizeof(id.internal));

  auto handles = std::make_unique<Handles>();
  if (cudaError_t error = cudaStreamCreateWithFlags(&handles->stream, cudaStreamNonBlocking);
      error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cudaStreamCreateWithFlags on ", where, ": ",
                                               cudaGetErrorString(error)));
  }
  if (cudaError_t error = cudaEventCreateWithFlags(&handles->done, cudaEventDisableTiming);
      error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cudaEventCreate on ", where, ": ",
                                               cudaGetErrorString(error)));
  }
  if (cudaError_t error = cudaMalloc(reinterpret_cast<void**>(&handles->barrier_word), 4);
      error != cudaSuccess) {
    return absl::UnavailableError(absl::StrCat("cudaMalloc on ", where, ": ",
                                               cudaGetErrorString(error)));
  }
  // Non-blocking: initialization (and every call) returns at once, and this thread polls with a
  // deadline, so a peer that never joins is an error, not a hang.
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclResult_t result = ncclCommInitRankConfig(&handles->comm, bootstrap.size(), id,
                                               bootstrap.rank(), &config);
  std::unique_ptr<NcclCommunicator> communicator(new NcclCommunicator(
      std::move(handles), bootstrap.rank(), bootstrap.size(), device, std::move(name), timeout));
  HILO_RETURN_IF_ERROR(communicator->CheckNccl(result, "ncclCommInitRankConfig"));
  return communicator;
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<Handles> handles, int rank, int size,
                                   int device, std::string name, absl::Duration timeout)
    : handles_(std::move(handles)), rank_(rank), size_(size), device_(device),
      name_(std::move(name)), timeout_(timeout) {}

NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(device_);
  if (handles_->comm != nullptr) {
    if (aborted_) {
      ncclCommAbort(handles_->comm);
    } else {
      // Finalize flushes outstanding work; a non-blocking finalize is polled, then destroyed.
      ncclCommFinalize(handles_->comm);
      ncclResult_t state = ncclInProgress;
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (ncclCommGetAsyncError(handles_->comm, &state) == ncclSuccess &&
             state == ncclInProgress && absl::Now() < deadline) {
        std::this_thread::yield();
      }
      if (state == ncclSuccess) {
        ncclCommDestroy(handles_->comm);
      } else {
        ncclCommAbort(handles_->comm);
      }
    }
  }
  if (handles_->barrier_word != nullptr) cudaFree(handles_->barrier_word);
  if (handles_->done != nullptr) cudaEventDestroy(handles_->done);
  if (handles_->stream != nullptr) cudaStreamDestroy(handles_->stream);
}

void* NcclCommunicator::stream() const { return handles_->stream; }

absl::Status NcclCommunicator::Error(const char* call, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(call, " failed on ", name_, " (rank ", rank_, " of ",
                                             size_, ", cuda:", device_, "): ", what));
}

absl::Status NcclCommunicator::CheckCuda(int error, const char* call) {
  if (error == cudaSuccess) return absl::OkStatus();
  return Error(call, cudaGetErrorString(static_cast<cudaError_t>(error)));
}

absl::Status NcclCommunicator::CheckNccl(int raw_result, const char* call) {
  if (aborted_) return Error(call, "the communicator was aborted");
  ncclResult_t result = static_cast<ncclResult_t>(raw_result);
  if (result == ncclInProgress) {
    // A non-blocking communicator is still enqueueing (or initializing): wait for its state.
    const absl::Status waited = PollUntil(absl::Now() + timeout_, [&]() -> absl::Status {
      ncclResult_t state = ncclSuccess;
      if (ncclResult_t query = ncclCommGetAsyncError(handles_->comm, &state); query != ncclSuccess) {
        state = query;
      }
      if (state == ncclInProgress) return absl::UnavailableError("in progress");
      result = state;
      return absl::OkStatus();
    });
    if (absl::IsDeadlineExceeded(waited)) {
      Abort();
      return absl::DeadlineExceededError(absl::StrCat(
          call, " on ", name_, " (rank ", rank_, " of ", size_, ") did not complete within ",
          absl::FormatDuration(timeout_), "; a peer may be missing. The communicator was aborted"));
    }
  }
  if (result == ncclSuccess) return absl::OkStatus();
  std::string what = ncclGetErrorString(result);
  if (handles_->comm != nullptr) {
    if (const char* last = ncclGetLastError(handles_->comm); last != nullptr && *last != '\0') {
      absl::StrAppend(&what, " (", last, ")");
    }
  }
  Abort();
  return Error(call, what);
}

absl::Status NcclCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  if (count == 0) return absl::OkStatus();
  return CheckNccl(ncclAllReduce(data, data, static_cast<size_t>(count), ToNccl(dtype), ncclSum,
                                 handles_->comm, handles_->stream),
                   "ncclAllReduce");
}

absl::Status NcclCommunicator::AllreduceWith(void* data, int64_t count, DataType dtype,
                                            kernels::Reduction op) {
  if (count == 0) return absl::OkStatus();
  ncclRedOp_t nccl_op = ncclProd;
  switch (op) {
    case kernels::Reduction::kMin:
      nccl_op = ncclMin;
      break;
    case kernels::Reduction::kMax:
      nccl_op = ncclMax;
      break;
    case kernels::Reduction::kProduct:
      nccl_op = ncclProd;
      break;
  }
  return CheckNccl(ncclAllReduce(data, data, static_cast<size_t>(count), ToNccl(dtype), nccl_op,
                                 handles_->comm, handles_->stream),
                   "ncclAllReduce");
}

absl::Status NcclCommunicator::Allgather(const void* send, int64_t send_count, void* recv,
                                         absl::Span<const int64_t> recv_counts, DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Allgather", recv_counts));
  if (recv_counts[rank_] != send_count) {
    return absl::InvalidArgumentError(absl::StrCat("Allgather on ", name_, ": this rank sends ",
                                                   send_count, " elements, recv_counts says ",
                                                   recv_counts[rank_]));
  }
  const bool even = AllEqual(recv_counts);
  if (even) {
    if (send_count == 0) return absl::OkStatus();
    return CheckNccl(ncclAllGather(send, recv, static_cast<size_t>(send_count), ToNccl(dtype),
                                   handles_->comm, handles_->stream),
                     "ncclAllGather");
  }
  // Uneven: every rank broadcasts its block into place, as one NCCL group.
  HILO_RETURN_IF_ERROR(CheckNccl(ncclGroupStart(), "ncclGroupStart"));
  int64_t offset = 0;
  for (int root = 0; root < size_; ++root) {
    void* block = const_cast<char*>(ByteOffset(recv, offset, dtype));
    const void* source = root == rank_ ? send : block;
    if (recv_counts[root] > 0) {
      ncclResult_t result = ncclBroadcast(source, block, static_cast<size_t>(recv_counts[root]),
                                          ToNccl(dtype), root, handles_->comm, handles_->stream);
      if (result != ncclSuccess && result != ncclInProgress) {
        ncclGroupEnd();
        return CheckNccl(result, "ncclBroadcast (allgather)");
      }
    }
    offset += recv_counts[root];
  }
  return CheckNccl(ncclGroupEnd(), "ncclGroupEnd (allgather)");
}

absl::Status NcclCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  HILO_RETURN_IF_ERROR(CheckRoot(*this, root));
  if (count == 0) return absl::OkStatus();
  return CheckNccl(ncclBroadcast(data, data, static_cast<size_t>(count), ToNccl(dtype), root,
                                 handles_->comm, handles_->stream),
                   "ncclBroadcast");
}

absl::Status NcclCommunicator::ReduceScatterSum(const void* send, void* recv,
                                                absl::Span<const int64_t> recv_counts,
                                                DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "ReduceScatterSum", recv_counts));
  const bool even = AllEqual(recv_counts);
  if (even) {
    if (recv_counts[0] == 0) return absl::OkStatus();
    return CheckNccl(ncclReduceScatter(send, recv, static_cast<size_t>(recv_counts[0]),
                                       ToNccl(dtype), ncclSum, handles_->comm, handles_->stream),
                     "ncclReduceScatter");
  }
  // Uneven: one reduce per block, rooted at the block's owner, as one NCCL group.
  HILO_RETURN_IF_ERROR(CheckNccl(ncclGroupStart(), "ncclGroupStart"));
  int64_t offset = 0;
  for (int root = 0; root < size_; ++root) {
    if (recv_counts[root] > 0) {
      ncclResult_t result = ncclReduce(ByteOffset(send, offset, dtype), recv,
                                       static_cast<size_t>(recv_counts[root]), ToNccl(dtype),
                                       ncclSum, root, handles_->comm, handles_->stream);
      if (result != ncclSuccess && result != ncclInProgress) {
        ncclGroupEnd();
        return CheckNccl(result, "ncclReduce (reduce-scatter)");
      }
    }
    offset += recv_counts[root];
  }
  return CheckNccl(ncclGroupEnd(), "ncclGroupEnd (reduce-scatter)");
}

absl::Status NcclCommunicator::Barrier() {
  HILO_RETURN_IF_ERROR(CheckNccl(ncclAllReduce(handles_->barrier_word, handles_->barrier_word, 1,
                                               ncclInt32, ncclSum, handles_->comm,
                                               handles_->stream),
                                 "ncclAllReduce (barrier)"));
  return Synchronize();
}

absl::Status NcclCommunicator::Synchronize() {
  if (aborted_) return Error("Synchronize", "the communicator was aborted");
  HILO_RETURN_IF_ERROR(CheckCuda(cudaEventRecord(handles_->done, handles_->stream),
                                 "cudaEventRecord"));
  const absl::Status waited = PollUntil(absl::Now() + timeout_, [&]() -> absl::Status {
    const cudaError_t query = cudaEventQuery(handles_->done);
    if (query == cudaSuccess) return absl::OkStatus();
    if (query != cudaErrorNotReady) return CheckCuda(query, "cudaEventQuery");
    // While the stream runs, a failed peer shows up as the communicator's asynchronous error.
    ncclResult_t state = ncclSuccess;
    ncclCommGetAsyncError(handles_->comm, &state);
    if (state != ncclSuccess && state != ncclInProgress) {
      return CheckNccl(state, "NCCL (asynchronous error)");
    }
    return absl::UnavailableError("not yet");
  });
  if (absl::IsDeadlineExceeded(waited)) {
    Abort();
    return absl::DeadlineExceededError(absl::StrCat(
        "NCCL work on ", name_, " (rank ", rank_, " of ", size_, ") did not finish within ",
        absl::FormatDuration(timeout_), "; a peer may have failed. The communicator was aborted"));
  }
  return waited;
}

absl::Status NcclCommunicator::WaitForEvent(void* cuda_event) {
  return CheckCuda(cudaStreamWaitEvent(handles_->stream, static_cast<cudaEvent_t>(cuda_event), 0),
                   "cudaStreamWaitEvent");
}

void NcclCommunicator::Abort() {
  if (aborted_ || handles_->comm == nullptr) return;
  aborted_ = true;
  ncclCommAbort(handles_->comm);
  handles_->comm = nullptr;
}

}  // namespace hilo::transport
