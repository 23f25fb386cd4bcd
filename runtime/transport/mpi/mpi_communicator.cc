#include "runtime/transport/mpi/mpi_communicator.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/common/status_macros.h"

namespace hilo::transport {
namespace {

// Largest element count handed to one MPI call (MPI counts are int).
constexpr int64_t kMaxCountPerCall = INT_MAX;

char* ByteOffset(void* base, int64_t elements, DataType dtype) {
  return static_cast<char*>(base) + elements * static_cast<int64_t>(DataTypeSize(dtype));
}

}  // namespace

absl::Status MpiError(int code, absl::string_view call, absl::string_view communicator, int rank) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  int error_class = code;
  MPI_Error_class(code, &error_class);
  const std::string message = absl::StrCat(call, " failed on communicator ", communicator,
                                           " (rank ", rank, "): ", absl::string_view(text, length));
  switch (error_class) {
    // Errors in the arguments hilo built: a bug in hilo, not in the peers.
    case MPI_ERR_BUFFER:
    case MPI_ERR_COUNT:
    case MPI_ERR_TYPE:
    case MPI_ERR_ROOT:
    case MPI_ERR_OP:
    case MPI_ERR_ARG:
    case MPI_ERR_COMM:
      return absl::InternalError(message);
    default:
      // Everything else is the transport or a peer failing.
      return absl::UnavailableError(message);
  }
}

MpiCommunicator::MpiCommunicator(MPI_Comm comm, std::string name, const MpiTypeTable* types)
    : comm_(comm), name_(std::move(name)), types_(types) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

absl::Status MpiCommunicator::Check(int code, absl::string_view call) const {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  return MpiError(code, call, name_, rank_);
}

absl::Status MpiCommunicator::ToMpiCounts(absl::Span<const int64_t> counts, absl::string_view call,
                                          std::vector<int>* out) const {
  out->clear();
  int64_t total = 0;
  for (int64_t count : counts) {
    total += count;
    if (count < 0 || count > kMaxCountPerCall || total > kMaxCountPerCall) {
      return absl::OutOfRangeError(absl::StrCat(
          call, " on communicator ", name_, ": ", total,
          " elements exceed what one MPI call can address (INT_MAX)"));
    }
    out->push_back(static_cast<int>(count));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  const size_t index = static_cast<size_t>(dtype);
  for (int64_t done = 0; done < count; done += kMaxCountPerCall) {
    const int chunk = static_cast<int>(std::min(kMaxCountPerCall, count - done));
    HILO_RETURN_IF_ERROR(Check(MPI_Allreduce(MPI_IN_PLACE, ByteOffset(data, done, dtype), chunk,
                                             types_->datatype[index], types_->sum[index], comm_),
                               "MPI_Allreduce"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllreduceWith(void* data, int64_t count, DataType dtype,
                                           kernels::Reduction op) {
  const size_t index = static_cast<size_t>(dtype);
  const MPI_Op mpi_op = types_->reduction[static_cast<size_t>(op)][index];
  for (int64_t done = 0; done < count; done += kMaxCountPerCall) {
    const int chunk = static_cast<int>(std::min(kMaxCountPerCall, count - done));
    HILO_RETURN_IF_ERROR(Check(MPI_Allreduce(MPI_IN_PLACE, ByteOffset(data, done, dtype), chunk,
                                             types_->datatype[index], mpi_op, comm_),
                               "MPI_Allreduce"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Allgather(const void* send, int64_t send_count, void* recv,
                                        absl::Span<const int64_t> recv_counts, DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Allgather", recv_counts));
  if (recv_counts[rank_] != send_count) {
    return absl::InvalidArgumentError(absl::StrCat("Allgather on ", name_, ": this rank sends ",
                                                   send_count, " elements, recv_counts says ",
                                                   recv_counts[rank_]));
  }
  std::vector<int> counts;
  HILO_RETURN_IF_ERROR(ToMpiCounts(recv_counts, "MPI_Allgatherv", &counts));
  std::vector<int> displacements(counts.size(), 0);
  for (size_t r = 1; r < counts.size(); ++r) displacements[r] = displacements[r - 1] + counts[r - 1];
  const MPI_Datatype type = types_->datatype[static_cast<size_t>(dtype)];
  const bool in_place = send == ByteOffset(recv, displacements[rank_], dtype);
  return Check(MPI_Allgatherv(in_place ? MPI_IN_PLACE : send, static_cast<int>(send_count), type,
                              recv, counts.data(), displacements.data(), type, comm_),
               "MPI_Allgatherv");
}

absl::Status MpiCommunicator::Alltoall(const void* send, absl::Span<const int64_t> send_counts,
                                       void* recv, absl::Span<const int64_t> recv_counts,
                                       DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Alltoall", send_counts));
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Alltoall", recv_counts));
  std::vector<int> sends, receives;
  HILO_RETURN_IF_ERROR(ToMpiCounts(send_counts, "MPI_Alltoallv", &sends));
  HILO_RETURN_IF_ERROR(ToMpiCounts(recv_counts, "MPI_Alltoallv", &receives));
  std::vector<int> send_offsets(size_, 0), recv_offsets(size_, 0);
  for (int r = 1; r < size_; ++r) {
    send_offsets[r] = send_offsets[r - 1] + sends[r - 1];
    recv_offsets[r] = recv_offsets[r - 1] + receives[r - 1];
  }
  const MPI_Datatype type = types_->datatype[static_cast<size_t>(dtype)];
  return Check(MPI_Alltoallv(send, sends.data(), send_offsets.data(), type, recv, receives.data(),
                             recv_offsets.data(), type, comm_),
               "MPI_Alltoallv");
}

absl::Status MpiCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  HILO_RETURN_IF_ERROR(CheckRoot(*this, root));
  for (int64_t done = 0; done < count; done += kMaxCountPerCall) {
    const int chunk = static_cast<int>(std::min(kMaxCountPerCall, count - done));
    HILO_RETURN_IF_ERROR(Check(MPI_Bcast(ByteOffset(data, done, dtype), chunk,
                                         types_->datatype[static_cast<size_t>(dtype)], root, comm_),
                               "MPI_Bcast"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::ReduceScatterSum(const void* send, void* recv,
                                               absl::Span<const int64_t> recv_counts,
                                               DataType dtype) {
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "ReduceScatterSum", recv_counts));
  std::vector<int> counts;
  HILO_RETURN_IF_ERROR(ToMpiCounts(recv_counts, "MPI_Reduce_scatter", &counts));
  const size_t index = static_cast<size_t>(dtype);
  return Check(MPI_Reduce_scatter(send, recv, counts.data(), types_->datatype[index],
                                  types_->sum[index], comm_),
               "MPI_Reduce_scatter");
}

absl::Status MpiCommunicator::AllreduceBitwiseAnd(absl::Span<uint64_t> words) {
  if (words.size() > static_cast<size_t>(INT_MAX)) return absl::OutOfRangeError("too many words");
  MPI_Request request;
  HILO_RETURN_IF_ERROR(Check(MPI_Iallreduce(MPI_IN_PLACE, words.data(), static_cast<int>(words.size()),
                                            MPI_UINT64_T, MPI_BAND, comm_, &request),
                             "MPI_Iallreduce(control bits)"));
  return WaitForControl(&request, "MPI_Iallreduce(control bits)");
}

absl::Status MpiCommunicator::WaitForControl(MPI_Request* request, absl::string_view call) {
  // Negotiation waits for the slowest rank to start its cycle, which on an idle job is most of
  // the time. A blocking MPI wait would poll at full speed for all of it (on an oversubscribed
  // node, taking the CPU from ranks that have work). So: a short burst of polls; then, for up to
  // control_spin_ (the runtime sets it while this rank has work in flight), polls that yield the
  // CPU to any other runnable thread between tests, since a sleep costs tens of microseconds of
  // timer slack per wake-up; then sleeps between tests, doubling the pause up to a cap that
  // bounds the added latency.
  constexpr int kEagerPolls = 64;
  constexpr auto kFirstPause = std::chrono::microseconds(10);
  constexpr auto kLongestPause = std::chrono::microseconds(100);
  const auto started = std::chrono::steady_clock::now();
  const auto spin_until = started + absl::ToChronoNanoseconds(control_spin_);
  auto pause = kFirstPause;
  for (int polls = 0;; ++polls) {
    int done = 0;
    HILO_RETURN_IF_ERROR(Check(MPI_Test(request, &done, MPI_STATUS_IGNORE), call));
    if (done) return absl::OkStatus();
    if (polls < kEagerPolls) continue;
    if (std::chrono::steady_clock::now() < spin_until) {
      sched_yield();
      continue;
    }
    if (control_timeout_ > absl::ZeroDuration() &&
        std::chrono::steady_clock::now() - started > absl::ToChronoNanoseconds(control_timeout_)) {
      return absl::DeadlineExceededError(absl::StrCat(
          call, " on ", name_, " (rank ", rank_, "): not every rank answered within ",
          absl::FormatDuration(control_timeout_),
          " (a rank, its node or the link to it is down, or it stopped running hilo)"));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, kLongestPause);
  }
}

absl::Status MpiCommunicator::Barrier() { return Check(MPI_Barrier(comm_), "MPI_Barrier"); }

absl::StatusOr<std::vector<std::string>> MpiCommunicator::GatherToRoot(const std::string& local) {
  if (local.size() > static_cast<size_t>(INT_MAX)) {
    return absl::OutOfRangeError("control message larger than 2 GiB");
  }
  int local_size = static_cast<int>(local.size());
  std::vector<int> sizes(rank_ == 0 ? size_ : 0);
  MPI_Request request;
  HILO_RETURN_IF_ERROR(Check(MPI_Igather(&local_size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0,
                                         comm_, &request),
                             "MPI_Igather(control sizes)"));
  HILO_RETURN_IF_ERROR(WaitForControl(&request, "MPI_Igather(control sizes)"));
  std::vector<int> displacements(sizes.size(), 0);
  int64_t total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) {
    displacements[r] = static_cast<int>(total);
    total += sizes[r];
  }
  if (total > INT_MAX) return absl::OutOfRangeError("control messages larger than 2 GiB in total");
  std::string gathered(static_cast<size_t>(total), '\0');
  HILO_RETURN_IF_ERROR(Check(MPI_Igatherv(local.data(), local_size, MPI_BYTE, gathered.data(),
                                          sizes.data(), displacements.data(), MPI_BYTE, 0, comm_,
                                          &request),
                             "MPI_Igatherv(control)"));
  HILO_RETURN_IF_ERROR(WaitForControl(&request, "MPI_Igatherv(control)"));
  std::vector<std::string> messages;
  messages.reserve(sizes.size());
  for (size_t r = 0; r < sizes.size(); ++r) {
    messages.push_back(gathered.substr(displacements[r], sizes[r]));
  }
  return messages;
}

absl::Status MpiCommunicator::BroadcastFromRoot(std::string* message) {
  if (message->size() > static_cast<size_t>(INT_MAX)) {
    return absl::OutOfRangeError("control message larger than 2 GiB");
  }
  int size = static_cast<int>(message->size());
  MPI_Request request;
  HILO_RETURN_IF_ERROR(
      Check(MPI_Ibcast(&size, 1, MPI_INT, 0, comm_, &request), "MPI_Ibcast(control size)"));
  HILO_RETURN_IF_ERROR(WaitForControl(&request, "MPI_Ibcast(control size)"));
  message->resize(static_cast<size_t>(size));
  HILO_RETURN_IF_ERROR(Check(MPI_Ibcast(message->data(), size, MPI_BYTE, 0, comm_, &request),
                             "MPI_Ibcast(control)"));
  return WaitForControl(&request, "MPI_Ibcast(control)");
}

}  // namespace hilo::transport
