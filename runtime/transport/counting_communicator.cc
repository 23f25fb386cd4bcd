#include "runtime/transport/counting_communicator.h"

#include <chrono>

namespace hilo::transport {
namespace {

int64_t Bytes(int64_t count, DataType dtype) {
  return count * static_cast<int64_t>(DataTypeSize(dtype));
}

int64_t NowNanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void CountingCommunicator::Record(int64_t bytes, int64_t nanoseconds) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(bytes, std::memory_order_relaxed);
  busy_nanoseconds_.fetch_add(nanoseconds, std::memory_order_relaxed);
}

absl::Status CountingCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->AllreduceSum(data, count, dtype);
  Record(Bytes(count, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::AllreduceWith(void* data, int64_t count, DataType dtype,
                                                 kernels::Reduction op) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->AllreduceWith(data, count, dtype, op);
  Record(Bytes(count, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::AllreduceSumSlices(absl::Span<const Slice> slices,
                                                      DataType dtype) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->AllreduceSumSlices(slices, dtype);
  // A transport that cannot take slices moved nothing: the caller packs and calls AllreduceSum.
  if (absl::IsUnimplemented(status)) return status;
  int64_t bytes = 0;
  for (const Slice& slice : slices) bytes += slice.bytes;
  Record(bytes, NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::Allgather(const void* send, int64_t send_count, void* recv,
                                             absl::Span<const int64_t> recv_counts,
                                             DataType dtype) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->Allgather(send, send_count, recv, recv_counts, dtype);
  Record(Bytes(send_count, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::Alltoall(const void* send,
                                            absl::Span<const int64_t> send_counts, void* recv,
                                            absl::Span<const int64_t> recv_counts,
                                            DataType dtype) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->Alltoall(send, send_counts, recv, recv_counts, dtype);
  int64_t sent = 0;
  for (int64_t count : send_counts) sent += count;
  Record(Bytes(sent, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::Broadcast(void* data, int64_t count, DataType dtype, int root) {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->Broadcast(data, count, dtype, root);
  Record(Bytes(count, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::ReduceScatterSum(const void* send, void* recv,
                                                    absl::Span<const int64_t> recv_counts,
                                                    DataType dtype) {
  int64_t total = 0;
  for (int64_t count : recv_counts) total += count;
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->ReduceScatterSum(send, recv, recv_counts, dtype);
  Record(Bytes(total, dtype), NowNanoseconds() - start);
  return status;
}

absl::Status CountingCommunicator::Barrier() {
  const int64_t start = NowNanoseconds();
  absl::Status status = inner()->Barrier();
  Record(0, NowNanoseconds() - start);
  return status;
}

TransportCounters CountingCommunicator::counters() const {
  TransportCounters counters;
  counters.calls = calls_.load(std::memory_order_relaxed);
  counters.bytes = bytes_.load(std::memory_order_relaxed);
  counters.busy_nanoseconds = busy_nanoseconds_.load(std::memory_order_relaxed);
  return counters;
}

}  // namespace hilo::transport
