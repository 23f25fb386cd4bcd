#include "runtime/transport/conformance/conformance.h"

#include <cmath>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/half.h"

namespace hilo::transport::conformance {
namespace {

constexpr DataType kDtypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                                DataType::kBFloat16, DataType::kInt32, DataType::kInt64};

// Small integers, exact in every dtype and in any summation order for up to 8 ranks.
double Value(int rank, int64_t i) { return static_cast<double>(((rank + 1) * (i % 5 + 1)) % 7 - 3); }
// Factors for products: 1, 2 or -1, so a product over 8 ranks stays within float16's range.
double Factor(int rank, int64_t i) {
  const int64_t which = (i + rank) % 3;
  return which == 0 ? 2.0 : which == 1 ? 1.0 : -1.0;
}

std::vector<char> Encode(DataType dtype, const std::vector<double>& values) {
  std::vector<char> bytes(values.size() * DataTypeSize(dtype));
  for (size_t i = 0; i < values.size(); ++i) {
    const double v = values[i];
    char* at = bytes.data() + i * DataTypeSize(dtype);
    switch (dtype) {
      case DataType::kFloat32: { const float f = static_cast<float>(v); std::memcpy(at, &f, 4); break; }
      case DataType::kFloat64: std::memcpy(at, &v, 8); break;
      case DataType::kFloat16: { const uint16_t h = kernels::FloatToFloat16(static_cast<float>(v)); std::memcpy(at, &h, 2); break; }
      case DataType::kBFloat16: { const uint16_t h = kernels::FloatToBFloat16(static_cast<float>(v)); std::memcpy(at, &h, 2); break; }
      case DataType::kInt32: { const int32_t n = static_cast<int32_t>(v); std::memcpy(at, &n, 4); break; }
      case DataType::kInt64: { const int64_t n = static_cast<int64_t>(v); std::memcpy(at, &n, 8); break; }
    }
  }
  return bytes;
}

double Decode(DataType dtype, const char* at) {
  switch (dtype) {
    case DataType::kFloat32: { float f; std::memcpy(&f, at, 4); return f; }
    case DataType::kFloat64: { double d; std::memcpy(&d, at, 8); return d; }
    case DataType::kFloat16: { uint16_t h; std::memcpy(&h, at, 2); return kernels::Float16ToFloat(h); }
    case DataType::kBFloat16: { uint16_t h; std::memcpy(&h, at, 2); return kernels::BFloat16ToFloat(h); }
    case DataType::kInt32: { int32_t n; std::memcpy(&n, at, 4); return n; }
    case DataType::kInt64: { int64_t n; std::memcpy(&n, at, 8); return static_cast<double>(n); }
  }
  return NAN;
}

std::vector<double> Inputs(int rank, int64_t count, int64_t first = 0) {
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = Value(rank, first + i);
  return values;
}

// Compares `bytes` with `expected`, reporting the first difference only (a wrong collective
// would otherwise print a million lines).
void ExpectValues(const std::string& what, DataType dtype, const char* bytes,
                  const std::vector<double>& expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    const double got = Decode(dtype, bytes + i * DataTypeSize(dtype));
    if (got != expected[i]) {
      ADD_FAILURE() << what << ": element " << i << " is " << got << ", expected " << expected[i];
      return;
    }
  }
}

std::string Describe(const Communicator& c, absl::string_view check, DataType dtype, int64_t count) {
  return absl::StrCat(check, " on ", c.name(), " (rank ", c.rank(), " of ", c.size(), "), ",
                      DataTypeName(dtype), " x ", count);
}

void CheckAllreduce(Communicator& c, DataType dtype, int64_t count) {
  std::vector<char> data = Encode(dtype, Inputs(c.rank(), count));
  const std::string what = Describe(c, "AllreduceSum", dtype, count);
  ASSERT_TRUE(c.AllreduceSum(data.data(), count, dtype).ok()) << what;
  ASSERT_TRUE(c.Synchronize().ok()) << what;
  std::vector<double> expected(static_cast<size_t>(count), 0.0);
  for (int r = 0; r < c.size(); ++r) {
    for (int64_t i = 0; i < count; ++i) expected[i] += Value(r, i);
  }
  ExpectValues(what, dtype, data.data(), expected);
}

void CheckReductions(Communicator& c, DataType dtype, int64_t count) {
  for (kernels::Reduction op :
       {kernels::Reduction::kMin, kernels::Reduction::kMax, kernels::Reduction::kProduct}) {
    const bool product = op == kernels::Reduction::kProduct;
    std::vector<double> mine(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) mine[i] = product ? Factor(c.rank(), i) : Value(c.rank(), i);
    std::vector<char> data = Encode(dtype, mine);
    const std::string what =
        Describe(c, absl::StrCat("AllreduceWith(", static_cast<int>(op), ")"), dtype, count);
    ASSERT_TRUE(c.AllreduceWith(data.data(), count, dtype, op).ok()) << what;
    ASSERT_TRUE(c.Synchronize().ok()) << what;
    std::vector<double> expected(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      double e = product ? Factor(0, i) : Value(0, i);
      for (int r = 1; r < c.size(); ++r) {
        const double v = product ? Factor(r, i) : Value(r, i);
        e = op == kernels::Reduction::kMin ? std::min(e, v)
            : op == kernels::Reduction::kMax ? std::max(e, v) : e * v;
      }
      expected[i] = e;
    }
    ExpectValues(what, dtype, data.data(), expected);
  }
}

// Rank r contributes (count + r) % 4 == 0 ? 0 : count / (r + 1) elements: uneven, some none.
int64_t GatherCount(int rank, int64_t count) { return (count + rank) % 4 == 0 ? 0 : count / (rank + 1); }

void CheckAllgather(Communicator& c, DataType dtype, int64_t count, bool in_place) {
  const size_t element = DataTypeSize(dtype);
  std::vector<int64_t> counts;
  int64_t total = 0, offset = 0;
  for (int r = 0; r < c.size(); ++r) {
    counts.push_back(GatherCount(r, count));
    if (r < c.rank()) offset += counts.back();
    total += counts.back();
  }
  const std::vector<char> mine = Encode(dtype, Inputs(c.rank(), counts[c.rank()]));
  std::vector<char> recv(static_cast<size_t>(total) * element, 0);
  const char* send = mine.data();
  if (in_place) {
    if (!mine.empty()) std::memcpy(recv.data() + offset * element, mine.data(), mine.size());
    send = recv.data() + offset * element;
  }
  const std::string what = Describe(c, in_place ? "Allgather in place" : "Allgather", dtype, count);
  ASSERT_TRUE(c.Allgather(send, counts[c.rank()], recv.data(), counts, dtype).ok()) << what;
  ASSERT_TRUE(c.Synchronize().ok()) << what;
  std::vector<double> expected;
  for (int r = 0; r < c.size(); ++r) {
    const std::vector<double> theirs = Inputs(r, counts[r]);
    expected.insert(expected.end(), theirs.begin(), theirs.end());
  }
  ExpectValues(what, dtype, recv.data(), expected);
}

void CheckBroadcast(Communicator& c, DataType dtype, int64_t count) {
  for (int root = 0; root < c.size(); ++root) {
    std::vector<char> data = Encode(dtype, Inputs(c.rank(), count));
    const std::string what = Describe(c, absl::StrCat("Broadcast from ", root), dtype, count);
    ASSERT_TRUE(c.Broadcast(data.data(), count, dtype, root).ok()) << what;
    ASSERT_TRUE(c.Synchronize().ok()) << what;
    ExpectValues(what, dtype, data.data(), Inputs(root, count));
  }
}

void CheckReduceScatter(Communicator& c, DataType dtype, int64_t count) {
  // Block r: count / size elements, the first count % size blocks one more (some empty when
  // count < size).
  std::vector<int64_t> counts;
  int64_t offset = 0;
  for (int r = 0; r < c.size(); ++r) {
    counts.push_back(count / c.size() + (r < count % c.size() ? 1 : 0));
    if (r < c.rank()) offset += counts.back();
  }
  const std::vector<char> send = Encode(dtype, Inputs(c.rank(), count));
  std::vector<char> recv(static_cast<size_t>(counts[c.rank()]) * DataTypeSize(dtype));
  const std::string what = Describe(c, "ReduceScatterSum", dtype, count);
  ASSERT_TRUE(c.ReduceScatterSum(send.data(), recv.data(), counts, dtype).ok()) << what;
  ASSERT_TRUE(c.Synchronize().ok()) << what;
  std::vector<double> expected(static_cast<size_t>(counts[c.rank()]), 0.0);
  for (int r = 0; r < c.size(); ++r) {
    for (int64_t i = 0; i < counts[c.rank()]; ++i) expected[i] += Value(r, offset + i);
  }
  ExpectValues(what, dtype, recv.data(), expected);
}

// Rank r sends (r + j + count) % 3 elements of value Value(r, j) to rank j.
int64_t AlltoallCount(int from, int to, int64_t count) { return count == 0 ? 0 : (from + to + count) % 3; }

void CheckAlltoall(Communicator& c, DataType dtype, int64_t count) {
  std::vector<int64_t> send_counts, recv_counts;
  std::vector<double> send_values;
  for (int j = 0; j < c.size(); ++j) {
    send_counts.push_back(AlltoallCount(c.rank(), j, count));
    recv_counts.push_back(AlltoallCount(j, c.rank(), count));
    send_values.insert(send_values.end(), send_counts.back(), Value(c.rank(), j));
  }
  const std::vector<char> send = Encode(dtype, send_values);
  int64_t received = 0;
  for (int64_t n : recv_counts) received += n;
  std::vector<char> recv(static_cast<size_t>(received) * DataTypeSize(dtype));
  const std::string what = Describe(c, "Alltoall", dtype, count);
  ASSERT_TRUE(c.Alltoall(send.data(), send_counts, recv.data(), recv_counts, dtype).ok()) << what;
  ASSERT_TRUE(c.Synchronize().ok()) << what;
  std::vector<double> expected;
  for (int j = 0; j < c.size(); ++j) expected.insert(expected.end(), recv_counts[j], Value(j, c.rank()));
  ExpectValues(what, dtype, recv.data(), expected);
}

void CheckSlices(Communicator& c, DataType dtype, int64_t count) {
  // Three tensors laid end to end as the pack kernel would place them: count split 1:2:rest.
  const size_t element = DataTypeSize(dtype);
  const int64_t a = count / 4, b = count / 2, rest = count - a - b;
  std::vector<std::vector<char>> tensors = {Encode(dtype, Inputs(c.rank(), a, 0)),
                                            Encode(dtype, Inputs(c.rank(), b, a)),
                                            Encode(dtype, Inputs(c.rank(), rest, a + b))};
  std::vector<Communicator::Slice> slices = {
      {tensors[0].data(), 0, static_cast<int64_t>(a * element)},
      {tensors[1].data(), static_cast<int64_t>(a * element), static_cast<int64_t>(b * element)},
      {tensors[2].data(), static_cast<int64_t>((a + b) * element),
       static_cast<int64_t>(rest * element)}};
  const std::string what = Describe(c, "AllreduceSumSlices", dtype, count);
  ASSERT_TRUE(c.AllreduceSumSlices(slices, dtype).ok()) << what;
  ASSERT_TRUE(c.Synchronize().ok()) << what;
  const int64_t firsts[3] = {0, a, a + b};
  const int64_t sizes[3] = {a, b, rest};
  for (int t = 0; t < 3; ++t) {
    std::vector<double> expected(static_cast<size_t>(sizes[t]), 0.0);
    for (int r = 0; r < c.size(); ++r) {
      for (int64_t i = 0; i < sizes[t]; ++i) expected[i] += Value(r, firsts[t] + i);
    }
    ExpectValues(absl::StrCat(what, ", tensor ", t), dtype, tensors[t].data(), expected);
  }
}

// Arguments that no rank can satisfy fail on every rank with INVALID_ARGUMENT, before any data
// moves (so the communicator stays usable), instead of crashing or hanging.
void CheckArgumentErrors(Communicator& c) {
  float value = 1.0f;
  for (int root : {-1, c.size()}) {
    const absl::Status status = c.Broadcast(&value, 1, DataType::kFloat32, root);
    EXPECT_TRUE(absl::IsInvalidArgument(status))
        << "Broadcast from root " << root << " on " << c.name() << ": " << status;
  }
  std::vector<float> recv(static_cast<size_t>(c.size()) + 1);
  const std::vector<int64_t> wrong(static_cast<size_t>(c.size()) + 1, 1);
  EXPECT_TRUE(absl::IsInvalidArgument(
      c.Allgather(&value, 1, recv.data(), wrong, DataType::kFloat32)))
      << "Allgather with " << wrong.size() << " counts on " << c.name();
  EXPECT_TRUE(absl::IsInvalidArgument(
      c.ReduceScatterSum(recv.data(), &value, wrong, DataType::kFloat32)))
      << "ReduceScatterSum with " << wrong.size() << " counts on " << c.name();
  if (c.capabilities().alltoall) {
    EXPECT_TRUE(absl::IsInvalidArgument(
        c.Alltoall(recv.data(), wrong, recv.data(), wrong, DataType::kFloat32)))
        << "Alltoall with " << wrong.size() << " counts on " << c.name();
  }
  // Still usable: one more collective after the refused ones.
  value = 1.0f;
  ASSERT_TRUE(c.AllreduceSum(&value, 1, DataType::kFloat32).ok());
  ASSERT_TRUE(c.Synchronize().ok());
  EXPECT_EQ(value, static_cast<float>(c.size())) << "after the refused calls on " << c.name();
}

// What a transport does not declare it must refuse, without moving data or waiting for peers.
void CheckUndeclaredCallsAreRefused(Communicator& c) {
  const Communicator::Capabilities capabilities = c.capabilities();
  float value = 1.0f;
  if (!capabilities.alltoall) {
    const std::vector<int64_t> ones(static_cast<size_t>(c.size()), 1);
    EXPECT_TRUE(absl::IsUnimplemented(c.Alltoall(&value, ones, &value, ones, DataType::kFloat32)))
        << c.name() << " does not declare alltoall";
  }
  if (!capabilities.sums_slices) {
    const Communicator::Slice slice{&value, 0, sizeof(value)};
    EXPECT_TRUE(absl::IsUnimplemented(c.AllreduceSumSlices({slice}, DataType::kFloat32)))
        << c.name() << " does not declare sums_slices";
  }
}

}  // namespace

std::vector<int64_t> ConformanceCounts() { return {0, 1, 7, 1000, 300000}; }

void RunConformance(Communicator& communicator) {
  const Communicator::Capabilities capabilities = communicator.capabilities();
  CheckUndeclaredCallsAreRefused(communicator);
  for (DataType dtype : kDtypes) {
    for (int64_t count : ConformanceCounts()) {
      CheckAllreduce(communicator, dtype, count);
      CheckReductions(communicator, dtype, count);
      CheckAllgather(communicator, dtype, count, /*in_place=*/false);
      CheckAllgather(communicator, dtype, count, /*in_place=*/true);
      CheckBroadcast(communicator, dtype, count);
      CheckReduceScatter(communicator, dtype, count);
      if (capabilities.alltoall) CheckAlltoall(communicator, dtype, count);
      if (capabilities.sums_slices) CheckSlices(communicator, dtype, count);
    }
  }
  EXPECT_TRUE(communicator.Barrier().ok()) << communicator.name();
  CheckArgumentErrors(communicator);
}

}  // namespace hilo::transport::conformance
