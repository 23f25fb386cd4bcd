#include "runtime/transport/shm/shm_communicator.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/half.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo::transport {
namespace {

using ::testing::HasSubstr;

// P threads, each with a LocalCommunicator (the inner transport and the control channel) and,
// once Create has run, a ShmCommunicator over it. Threads of one process map the segment like
// processes do.
void RunRanks(int size, const std::function<std::string(int)>& node, absl::Duration timeout,
              const std::function<void(int, absl::StatusOr<std::unique_ptr<ShmCommunicator>>&,
                                       LocalCommunicator&)>& body) {
  std::vector<std::unique_ptr<LocalCommunicator>> inner = LocalCommunicator::CreateGroup(size, "node 0");
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<ShmCommunicator>> shm =
          ShmCommunicator::Create(inner[r].get(), inner[r].get(), node(r), timeout);
      body(r, shm, *inner[r]);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

std::string SameNode(int) { return ShmCommunicator::ThisNode(); }

// Element i of rank r's input: small integers, so every sum is exact in any order and dtype.
double Input(int rank, int64_t i) { return static_cast<double>((rank + 1) * (i % 7) - 3); }

void Fill(std::vector<char>* buffer, DataType dtype, int64_t count, int rank) {
  buffer->assign(count * DataTypeSize(dtype), 0);
  for (int64_t i = 0; i < count; ++i) {
    const double v = Input(rank, i);
    switch (dtype) {
      case DataType::kFloat32: reinterpret_cast<float*>(buffer->data())[i] = static_cast<float>(v); break;
      case DataType::kFloat64: reinterpret_cast<double*>(buffer->data())[i] = v; break;
      case DataType::kInt32: reinterpret_cast<int32_t*>(buffer->data())[i] = static_cast<int32_t>(v); break;
      case DataType::kInt64: reinterpret_cast<int64_t*>(buffer->data())[i] = static_cast<int64_t>(v); break;
      case DataType::kFloat16:
        reinterpret_cast<uint16_t*>(buffer->data())[i] = kernels::FloatToFloat16(static_cast<float>(v));
        break;
      case DataType::kBFloat16:
        reinterpret_cast<uint16_t*>(buffer->data())[i] = kernels::FloatToBFloat16(static_cast<float>(v));
        break;
    }
  }
}

TEST(ShmCommunicatorTest, AllreduceEqualsTheSumForEveryDtypeSizeAndRankCount) {
  const DataType dtypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kInt32,
                             DataType::kInt64,   DataType::kFloat16, DataType::kBFloat16};
  for (int size : {2, 3, 4}) {
    RunRanks(size, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator& inner) {
      ASSERT_TRUE(shm.ok()) << shm.status();
      // Fewer elements than ranks, uneven splits, and several pieces (a slot is 1 MiB).
      for (int64_t count : {int64_t{1}, int64_t{2}, int64_t{5}, int64_t{1000}, int64_t{600001}}) {
        for (DataType dtype : dtypes) {
          std::vector<char> actual, expected;
          Fill(&actual, dtype, count, rank);
          Fill(&expected, dtype, count, rank);
          ASSERT_TRUE((*shm)->AllreduceSum(actual.data(), count, dtype).ok());
          ASSERT_TRUE(inner.AllreduceSum(expected.data(), count, dtype).ok());
          ASSERT_EQ(actual, expected) << "size " << size << ", count " << count << ", "
                                      << DataTypeName(dtype);
        }
      }
    });
  }
}

TEST(ShmCommunicatorTest, EveryElementIsSummedInRankOrderWhoeverOwnsIt) {
  // Values whose float sums depend on the order of the additions: whichever rank owns an
  // element (that follows the buffer's size, i.e. how tensors were fused), the result must have
  // the bits of ((s0 + s1) + s2) + s3, which is what the in-process transport computes.
  for (int size : {3, 4}) {
    RunRanks(size, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator& inner) {
      ASSERT_TRUE(shm.ok()) << shm.status();
      for (int64_t count : {int64_t{7}, int64_t{1000}, int64_t{4099}}) {
        std::vector<float> actual(count), expected(count);
        for (int64_t i = 0; i < count; ++i) {
          // Magnitudes from 1e-3 to 1e5 per rank and element: rounding differs by order.
          actual[i] = expected[i] = static_cast<float>(
              std::ldexp(1.0 + 0.123456789 * ((rank * 7919 + i * 104729) % 1000),
                         static_cast<int>((rank * 5 + i * 3) % 27) - 10));
        }
        ASSERT_TRUE((*shm)->AllreduceSum(actual.data(), count, DataType::kFloat32).ok());
        ASSERT_TRUE(inner.AllreduceSum(expected.data(), count, DataType::kFloat32).ok());
        int differing = 0;
        for (int64_t i = 0; i < count; ++i) differing += actual[i] != expected[i];
        EXPECT_EQ(differing, 0) << "size " << size << ", count " << count;
      }
    });
  }
}

TEST(ShmCommunicatorTest, SlicesAreSummedAsIfPackedIntoOneBuffer) {
  // Many tensors of odd sizes whose concatenation spans several pieces, some crossing a piece
  // boundary: the same bits as AllreduceSum of a packed copy (which the runtime used to make).
  for (int size : {2, 3, 4}) {
    RunRanks(size, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator&) {
      ASSERT_TRUE(shm.ok()) << shm.status();
      for (DataType dtype : {DataType::kFloat32, DataType::kInt64, DataType::kBFloat16}) {
        const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
        std::vector<std::vector<char>> tensors;
        std::vector<char> packed;
        std::vector<Communicator::Slice> slices;
        int64_t offset = 0;
        for (int t = 0; t < 40; ++t) {
          const int64_t count = 1 + (t * 104729) % 90001;  // up to ~88k elements each
          std::vector<char> tensor;
          Fill(&tensor, dtype, count, rank + t);
          packed.insert(packed.end(), tensor.begin(), tensor.end());
          tensors.push_back(std::move(tensor));
          slices.push_back({tensors.back().data(), offset, count * element});
          offset += count * element;
        }
        ASSERT_GT(offset, int64_t{2} * (*shm)->slot_bytes());
        ASSERT_TRUE((*shm)->AllreduceSumSlices(slices, dtype).ok());
        ASSERT_TRUE((*shm)->AllreduceSum(packed.data(), offset / element, dtype).ok());
        std::vector<char> unpacked;
        for (const auto& tensor : tensors) unpacked.insert(unpacked.end(), tensor.begin(), tensor.end());
        ASSERT_EQ(unpacked, packed) << "size " << size << ", " << DataTypeName(dtype);
      }
    });
  }
}

TEST(ShmCommunicatorTest, SlicesThatAreNotContiguousAreRefused) {
  RunRanks(2, SameNode, absl::Seconds(60), [&](int, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    float a[2] = {1, 2}, b[2] = {3, 4};
    const Communicator::Slice gap[] = {{a, 0, 8}, {b, 12, 8}};
    EXPECT_EQ((*shm)->AllreduceSumSlices(gap, DataType::kFloat32).code(),
              absl::StatusCode::kInvalidArgument);
  });
}

TEST(ShmCommunicatorTest, BackToBackCallsOfChangingSizesStayCorrect) {
  // Consecutive calls alternate between the two slot sets without a closing barrier; a rank
  // racing ahead into the next call must not overwrite what a slower rank still copies out.
  RunRanks(4, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    for (int call = 0; call < 200; ++call) {
      const int64_t count = 1 + (call * 7919) % 300000;
      std::vector<int32_t> data(count, rank + call);
      ASSERT_TRUE((*shm)->AllreduceSum(data.data(), count, DataType::kInt32).ok());
      const int32_t expected = 4 * call + 6;
      ASSERT_EQ(data.front(), expected) << "call " << call;
      ASSERT_EQ(data.back(), expected) << "call " << call;
    }
  });
}

TEST(ShmCommunicatorTest, MembersOnDifferentMachinesAllKeepTheirTransport) {
  RunRanks(3, [](int rank) { return rank == 2 ? std::string("other/host") : SameNode(rank); },
           absl::Seconds(60), [&](int, auto& shm, LocalCommunicator&) {
             ASSERT_FALSE(shm.ok());
             EXPECT_EQ(shm.status().code(), absl::StatusCode::kFailedPrecondition);
             EXPECT_THAT(shm.status().message(), HasSubstr("different machines"));
             EXPECT_THAT(shm.status().message(), HasSubstr("rank 2 on other/host"));
           });
}

TEST(ShmCommunicatorTest, APeerThatStopsCallingFailsTheOthersInsteadOfHanging) {
  RunRanks(3, SameNode, absl::Milliseconds(300), [&](int rank, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    if (rank == 2) return;  // never arrives
    float value = 1;
    const absl::Status status = (*shm)->AllreduceSum(&value, 1, DataType::kFloat32);
    EXPECT_TRUE(status.code() == absl::StatusCode::kDeadlineExceeded ||
                status.code() == absl::StatusCode::kAborted)
        << status;
    EXPECT_THAT(status.message(), HasSubstr("node 0"));
    // The segment's state is unknown from now on: later calls fail at once.
    EXPECT_EQ((*shm)->AllreduceSum(&value, 1, DataType::kFloat32).code(), status.code());
  });
}

TEST(ShmCommunicatorTest, AgreementsAreTheBitwiseAndOfEveryMembersWords) {
  RunRanks(3, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    // Interleaved with allreduces, which share the barrier, and in three sizes (the largest goes
    // through the wrapped channel).
    for (size_t words : {size_t{1}, size_t{33}, size_t{5000}}) {
      for (int round = 0; round < 20; ++round) {
        std::vector<uint64_t> mine(words, ~uint64_t{0});
        mine[round % words] &= ~(uint64_t{1} << rank);  // each clears its own bit somewhere
        mine.back() &= ~(uint64_t{1} << (8 + rank));
        ASSERT_TRUE((*shm)->AllreduceBitwiseAnd(absl::MakeSpan(mine)).ok());
        uint64_t expected_back = ~uint64_t{0} & ~(uint64_t{0x7} << 8);
        if ((words - 1) == static_cast<size_t>(round) % words) expected_back &= ~uint64_t{0x7};
        EXPECT_EQ(mine.back(), expected_back) << words << " words, round " << round;
        EXPECT_EQ(mine[round % words] & 0x7, 0u);
        int32_t value = rank;
        ASSERT_TRUE((*shm)->AllreduceSum(&value, 1, DataType::kInt32).ok());
        EXPECT_EQ(value, 3);
      }
    }
  });
}

TEST(ShmCommunicatorTest, AllgatherMatchesTheWrappedTransportInPlaceOrNot) {
  for (int size : {2, 3, 4}) {
    RunRanks(size, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator& inner) {
      ASSERT_TRUE(shm.ok()) << shm.status();
      // Blocks of unequal sizes, an empty one, and blocks of several slots (1 MiB each).
      for (int64_t base : {int64_t{0}, int64_t{3}, int64_t{300001}}) {
        std::vector<int64_t> counts;
        for (int r = 0; r < size; ++r) counts.push_back(base + r * 7);
        int64_t total = 0;
        for (int64_t c : counts) total += c;
        std::vector<float> mine(counts[rank]);
        for (int64_t i = 0; i < counts[rank]; ++i) mine[i] = static_cast<float>(rank * 1e6 + i);
        std::vector<float> gathered(total, -1.0f), expected(total, -2.0f);
        ASSERT_TRUE((*shm)->Allgather(mine.data(), counts[rank], gathered.data(), counts,
                                      DataType::kFloat32).ok());
        ASSERT_TRUE(inner.Allgather(mine.data(), counts[rank], expected.data(), counts,
                                    DataType::kFloat32).ok());
        ASSERT_EQ(gathered, expected) << "size " << size << ", base " << base;
        // In place: this rank's block of the output is its input.
        std::vector<float> in_place(total, -3.0f);
        int64_t offset = 0;
        for (int r = 0; r < rank; ++r) offset += counts[r];
        std::copy(mine.begin(), mine.end(), in_place.begin() + offset);
        ASSERT_TRUE((*shm)->Allgather(in_place.data() + offset, counts[rank], in_place.data(),
                                      counts, DataType::kFloat32).ok());
        ASSERT_EQ(in_place, expected) << "in place, size " << size << ", base " << base;
      }
    });
  }
}

TEST(ShmCommunicatorTest, AbortFailsThePeersAtOnceWithTheReason) {
  RunRanks(3, SameNode, absl::Minutes(5), [&](int rank, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    if (rank == 2) {
      (*shm)->Abort(absl::DeadlineExceededError("no data from rank 1 (host node2, 10.0.0.2:1)"));
      return;
    }
    // The others wait for rank 2, which will never come: they must not wait out 5 minutes.
    const absl::Time start = absl::Now();
    std::vector<float> block(10, 1.0f), all(30);
    const absl::Status status = (*shm)->Allgather(block.data(), 10, all.data(), {10, 10, 10},
                                                  DataType::kFloat32);
    EXPECT_EQ(status.code(), absl::StatusCode::kAborted) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("rank 2 gave up"));
    EXPECT_THAT(std::string(status.message()), HasSubstr("(host node2, 10.0.0.2:1)"));
    EXPECT_LT(absl::Now() - start, absl::Seconds(30));
    // Later calls fail too.
    EXPECT_FALSE((*shm)->AllreduceSum(block.data(), 10, DataType::kFloat32).ok());
  });
}

TEST(ShmCommunicatorTest, OtherCollectivesGoToTheWrappedTransport) {
  RunRanks(2, SameNode, absl::Seconds(60), [&](int rank, auto& shm, LocalCommunicator&) {
    ASSERT_TRUE(shm.ok()) << shm.status();
    int32_t value = rank == 1 ? 42 : 0;
    ASSERT_TRUE((*shm)->Broadcast(&value, 1, DataType::kInt32, 1).ok());
    EXPECT_EQ(value, 42);
    EXPECT_EQ((*shm)->name(), "node 0");
    EXPECT_EQ((*shm)->size(), 2);
  });
}

}  // namespace
}  // namespace hilo::transport
