#include "runtime/controller.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

proto::Request MakeRequest(const std::string& name) {
  proto::Request request;
  request.set_tensor_name(name);
  request.add_shape(8);
  return request;
}

// Four ranks report the same ten tensors in four different orders, spread over several cycles.
// Every rank must receive all ten, in one identical order.
TEST(ControllerTest, RanksAgreeOnOneOrderWhateverOrderTheyReportIn) {
  constexpr int kRanks = 4;
  auto channels = transport::LocalCommunicator::CreateGroup(kRanks, "world");
  std::vector<std::vector<std::string>> executed(kRanks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kRanks; ++rank) {
    threads.emplace_back([&, rank] {
      Controller controller(channels[rank].get(), "world", rank);
      std::vector<std::string> names;
      for (int i = 0; i < 10; ++i) names.push_back(absl::StrCat("t", i));
      if (rank % 2 == 1) std::reverse(names.begin(), names.end());
      if (rank == 2) std::rotate(names.begin(), names.begin() + 3, names.end());
      // Rank r reports r+1 names per cycle, so tensors become ready at different cycles.
      size_t next = 0;
      for (int cycle = 0; cycle < 12; ++cycle) {
        std::vector<proto::Request> requests;
        for (int k = 0; k <= rank && next < names.size(); ++k) {
          requests.push_back(MakeRequest(names[next++]));
        }
        absl::StatusOr<proto::ResponseList> responses =
            controller.Negotiate(std::move(requests), false);
        ASSERT_TRUE(responses.ok()) << responses.status();
        for (const proto::Response& response : responses->responses()) {
          ASSERT_EQ(response.type(), proto::Response::ALLREDUCE) << response.error_message();
          for (const std::string& name : response.tensor_names()) executed[rank].push_back(name);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(executed[0].size(), 10u);
  for (int rank = 1; rank < kRanks; ++rank) EXPECT_EQ(executed[rank], executed[0]) << rank;
}

TEST(ControllerTest, ShutdownFromAnyRankReachesEveryRank) {
  constexpr int kRanks = 3;
  auto channels = transport::LocalCommunicator::CreateGroup(kRanks, "world");
  std::vector<proto::ResponseList> results(kRanks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kRanks; ++rank) {
    threads.emplace_back([&, rank] {
      Controller controller(channels[rank].get(), "world", rank);
      absl::StatusOr<proto::ResponseList> responses = controller.Negotiate({}, rank == 2);
      ASSERT_TRUE(responses.ok()) << responses.status();
      results[rank] = *responses;
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const proto::ResponseList& result : results) {
    EXPECT_TRUE(result.shutdown());
    EXPECT_EQ(result.shutdown_requested_by(), 2);
  }
}

}  // namespace
}  // namespace hilo
