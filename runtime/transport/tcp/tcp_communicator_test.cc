#include "runtime/transport/tcp/tcp_communicator.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/half.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo::transport {
namespace {

using ::testing::HasSubstr;

// k threads as ranks: each sets up a TcpCommunicator over loopback (the in-process transport
// carries the set-up exchange) and runs `body` with it.
void RunRing(int size, const std::string& interface, absl::Duration timeout,
             const std::function<void(int, absl::StatusOr<std::unique_ptr<TcpCommunicator>>&)>&
                 body) {
  std::vector<std::unique_ptr<LocalCommunicator>> inner =
      LocalCommunicator::CreateGroup(size, "cross 0");
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<TcpCommunicator>> tcp =
          TcpCommunicator::Create(inner[r].get(), interface, timeout);
      body(r, tcp);
    });
  }
  for (std::thread& thread : threads) thread.join();
}

// Values whose float sum depends on the order of addition, so that a rank that summed in another
// order than its peers would end with other bits.
float Value(int rank, int64_t i) {
  return static_cast<float>((i % 1013) * 0.37 + rank * 1.0e-3 + 1.0 / (rank + 1 + i % 7));
}

TEST(TcpCommunicatorTest, ListensOnTheNamedInterface) {
  absl::StatusOr<std::string> loopback = TcpCommunicator::ListenAddress("lo");
  ASSERT_TRUE(loopback.ok()) << loopback.status();
  EXPECT_EQ(*loopback, "127.0.0.1");
  absl::StatusOr<std::string> missing = TcpCommunicator::ListenAddress("nosuchif0");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nosuchif0"));
}

TEST(TcpCommunicatorTest, SumsLikeTheReferenceAndEveryRankGetsTheSameBits) {
  // Sizes: fewer elements than ranks (empty blocks), one partial chunk, several chunks with a
  // remainder (the pipeline's hand-over between steps).
  const int64_t chunk = TcpCommunicator::kChunkBytes / 4;
  for (int size : {2, 3, 4}) {
    for (int64_t count : {int64_t{1}, int64_t{5}, int64_t{1000}, 3 * chunk * size + 17}) {
      std::vector<std::vector<float>> results(size);
      RunRing(size, "lo", absl::Seconds(30),
              [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
                ASSERT_TRUE(tcp.ok()) << tcp.status();
                std::vector<float> data(count);
                for (int64_t i = 0; i < count; ++i) data[i] = Value(r, i);
                ASSERT_TRUE((*tcp)->AllreduceSum(data.data(), count, DataType::kFloat32).ok());
                results[r] = std::move(data);
              });
      for (int64_t i = 0; i < count; ++i) {
        double expected = 0;
        for (int r = 0; r < size; ++r) expected += Value(r, i);
        ASSERT_NEAR(results[0][i], expected, 1e-4 * std::abs(expected) + 1e-5)
            << "size " << size << " count " << count << " element " << i;
        for (int r = 1; r < size; ++r) {
          ASSERT_EQ(results[r][i], results[0][i]) << "rank " << r << " element " << i;
        }
      }
    }
  }
}

TEST(TcpCommunicatorTest, SumsIntegersExactlyAndHalvesInTheirFormat) {
  const int size = 3;
  const int64_t count = TcpCommunicator::kChunkBytes / 8 * 2 + 3;  // > one chunk of int64
  RunRing(size, "lo", absl::Seconds(30),
          [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            ASSERT_TRUE(tcp.ok()) << tcp.status();
            std::vector<int64_t> data(count);
            for (int64_t i = 0; i < count; ++i) data[i] = (int64_t{1} << 40) * r + i;
            ASSERT_TRUE((*tcp)->AllreduceSum(data.data(), count, DataType::kInt64).ok());
            for (int64_t i = 0; i < count; ++i) {
              ASSERT_EQ(data[i], (int64_t{1} << 40) * 3 + 3 * i) << i;
            }
            std::vector<uint16_t> halves(5);
            for (int i = 0; i < 5; ++i) halves[i] = kernels::FloatToFloat16(0.5f * (r + 1) + i);
            ASSERT_TRUE((*tcp)->AllreduceSum(halves.data(), 5, DataType::kFloat16).ok());
            for (int i = 0; i < 5; ++i) {
              EXPECT_EQ(kernels::Float16ToFloat(halves[i]), 3.0f + 3 * i) << i;
            }
          });
}

TEST(TcpCommunicatorTest, MinMaxAndProduct) {
  RunRing(3, "lo", absl::Seconds(30),
          [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            ASSERT_TRUE(tcp.ok()) << tcp.status();
            std::vector<double> low = {1.0 + r, -1.0 * r}, high = low, product = {r + 1.0, 2.0};
            ASSERT_TRUE((*tcp)->AllreduceWith(low.data(), 2, DataType::kFloat64,
                                              kernels::Reduction::kMin).ok());
            ASSERT_TRUE((*tcp)->AllreduceWith(high.data(), 2, DataType::kFloat64,
                                              kernels::Reduction::kMax).ok());
            ASSERT_TRUE((*tcp)->AllreduceWith(product.data(), 2, DataType::kFloat64,
                                              kernels::Reduction::kProduct).ok());
            EXPECT_EQ(low, (std::vector<double>{1.0, -2.0}));
            EXPECT_EQ(high, (std::vector<double>{3.0, 0.0}));
            EXPECT_EQ(product, (std::vector<double>{6.0, 8.0}));
          });
}

TEST(TcpCommunicatorTest, APeerThatStopsCallingFailsTheAllreduceNamingIt) {
  absl::Notification rank0_done;
  RunRing(2, "lo", absl::Milliseconds(300),
          [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            ASSERT_TRUE(tcp.ok()) << tcp.status();
            if (r == 1) {  // never calls: rank 0 must give up after the timeout, not hang
              rank0_done.WaitForNotification();
              return;
            }
            std::vector<float> data(1 << 20, 1.0f);
            const absl::Status status =
                (*tcp)->AllreduceSum(data.data(), static_cast<int64_t>(data.size()),
                                     DataType::kFloat32);
            EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
            EXPECT_THAT(std::string(status.message()), HasSubstr("rank 1 (host "));
            EXPECT_THAT(std::string(status.message()), HasSubstr("127.0.0.1:"));
            EXPECT_THAT(std::string(status.message()), HasSubstr("cross 0"));
            // The ring's position is lost: later calls fail at once with the same error.
            EXPECT_EQ((*tcp)->AllreduceSum(data.data(), 4, DataType::kFloat32), status);
            rank0_done.Notify();
          });
}

TEST(TcpCommunicatorTest, APeerThatExitsFailsTheAllreduceAtOnce) {
  RunRing(2, "lo", absl::Minutes(5),
          [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            ASSERT_TRUE(tcp.ok()) << tcp.status();
            if (r == 1) {
              tcp->reset();  // closes its sockets, as an exiting process would
              return;
            }
            std::vector<float> data(1 << 20, 1.0f);
            const absl::Time start = absl::Now();
            const absl::Status status =
                (*tcp)->AllreduceSum(data.data(), static_cast<int64_t>(data.size()),
                                     DataType::kFloat32);
            EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
            EXPECT_THAT(std::string(status.message()), HasSubstr("rank 1 (host "));
            EXPECT_LT(absl::Now() - start, absl::Minutes(1));  // not the 5-minute timeout
          });
}

TEST(TcpCommunicatorTest, NamesThePeersThatNoLongerAnswer) {
  absl::Barrier* probed = new absl::Barrier(3);
  absl::Barrier* gone = new absl::Barrier(3);
  absl::Notification checked;
  RunRing(3, "lo", absl::Seconds(30),
          [&](int r, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            ASSERT_TRUE(tcp.ok()) << tcp.status();
            // Everybody is there, whatever it is doing: nobody unreachable (probes of the
            // others arrive meanwhile and are cleared by the next probe).
            EXPECT_TRUE((*tcp)->UnreachablePeers(absl::Seconds(5)).empty()) << "rank " << r;
            if (probed->Block()) delete probed;
            if (r == 2) tcp->reset();  // its listening socket closes, as when a process exits
            if (gone->Block()) delete gone;
            if (r == 0) {
              EXPECT_EQ((*tcp)->UnreachablePeers(absl::Seconds(5)), std::vector<int>{2});
              EXPECT_THAT((*tcp)->DescribePeer(2), HasSubstr("rank 2 (host "));
              checked.Notify();
            } else {
              checked.WaitForNotification();  // rank 1 stays listening until rank 0 has probed
            }
          });
}

TEST(TcpCommunicatorTest, AnInterfaceMissingAnywhereFailsSetUpEverywhere) {
  RunRing(3, "nosuchif0", absl::Seconds(10),
          [&](int, absl::StatusOr<std::unique_ptr<TcpCommunicator>>& tcp) {
            EXPECT_EQ(tcp.status().code(), absl::StatusCode::kFailedPrecondition);
            EXPECT_THAT(std::string(tcp.status().message()), HasSubstr("could not listen"));
          });
}

}  // namespace
}  // namespace hilo::transport
