#include "runtime/negotiation/tensor_queue.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_cat.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

TensorEntry MakeEntry(const std::string& name, CommunicatorKind kind = CommunicatorKind::kWorld) {
  TensorEntry entry;
  entry.request.name = name;
  entry.request.communicator = kind;
  entry.request.shape = {2, 3};
  entry.operation = std::make_shared<Operation>();
  return entry;
}

TEST(TensorQueueTest, ReportsEachEntryOnceInOrder) {
  TensorQueue queue;
  ASSERT_TRUE(queue.Add(MakeEntry("b")).ok());
  ASSERT_TRUE(queue.Add(MakeEntry("a")).ok());
  ASSERT_TRUE(queue.Add(MakeEntry("g", CommunicatorKind::kGroup)).ok());
  std::vector<proto::Request> world = queue.TakeNewRequests(CommunicatorKind::kWorld, 3, 7);
  ASSERT_EQ(world.size(), 2u);
  EXPECT_EQ(world[0].tensor_name(), "b");
  EXPECT_EQ(world[1].tensor_name(), "a");
  EXPECT_EQ(world[0].communicator_rank(), 3);
  EXPECT_EQ(world[0].world_rank(), 7);
  EXPECT_THAT(world[0].shape(), ::testing::ElementsAre(2, 3));
  EXPECT_TRUE(queue.TakeNewRequests(CommunicatorKind::kWorld, 3, 7).empty());
  EXPECT_EQ(queue.TakeNewRequests(CommunicatorKind::kGroup, 0, 7).size(), 1u);
  EXPECT_EQ(queue.size(), 3u);
  // Reported entries stay in flight (per communicator) until removed.
  EXPECT_EQ(queue.size(CommunicatorKind::kWorld), 2u);
  EXPECT_EQ(queue.size(CommunicatorKind::kGroup), 1u);
  EXPECT_EQ(queue.size(CommunicatorKind::kCross), 0u);
  ASSERT_TRUE(queue.Remove(CommunicatorKind::kWorld, "a").ok());
  EXPECT_EQ(queue.size(CommunicatorKind::kWorld), 1u);
}

TEST(TensorQueueTest, NameInFlightIsRejectedPerCommunicator) {
  TensorQueue queue;
  ASSERT_TRUE(queue.Add(MakeEntry("w")).ok());
  absl::Status again = queue.Add(MakeEntry("w"));
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr("'w'"));
  EXPECT_TRUE(queue.Add(MakeEntry("w", CommunicatorKind::kGroup)).ok());  // other communicator
  ASSERT_TRUE(queue.Remove(CommunicatorKind::kWorld, "w").ok());
  EXPECT_TRUE(queue.Add(MakeEntry("w")).ok());  // free again once done
}

TEST(TensorQueueTest, RemoveUnknownIsNotFound) {
  TensorQueue queue;
  EXPECT_EQ(queue.Remove(CommunicatorKind::kCross, "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TensorQueueTest, CloseReturnsEverythingAndRefusesMore) {
  TensorQueue queue;
  ASSERT_TRUE(queue.Add(MakeEntry("a")).ok());
  ASSERT_TRUE(queue.Add(MakeEntry("b", CommunicatorKind::kCross)).ok());
  EXPECT_EQ(queue.Close(absl::OkStatus()).size(), 2u);
  absl::Status after = queue.Add(MakeEntry("c"));
  EXPECT_EQ(after.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(after.message(), HasSubstr("shut down"));
}

TEST(TensorQueueTest, WaitForWorkReturnsWhenWorkArrivesAndTimesOutOtherwise) {
  TensorQueue queue;
  const absl::Time start = absl::Now();
  queue.WaitForWork(start + absl::Milliseconds(50));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));

  std::thread producer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    ASSERT_TRUE(queue.Add(MakeEntry("late")).ok());
  });
  const absl::Time before = absl::Now();
  queue.WaitForWork(before + absl::Seconds(30));
  EXPECT_LT(absl::Now() - before, absl::Seconds(10));
  producer.join();
}

TEST(TensorQueueTest, ConcurrentAddsAllArrive) {
  TensorQueue queue;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&queue, t] {
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(queue.Add(MakeEntry(absl::StrCat("t", t, "_", i))).ok());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(queue.TakeNewRequests(CommunicatorKind::kWorld, 0, 0).size(), 1600u);
}

}  // namespace
}  // namespace hilo
