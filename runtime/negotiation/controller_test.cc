#include "runtime/negotiation/controller.h"

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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
          ASSERT_EQ(response.collective(), proto::ALLREDUCE) << response.error_message();
          ASSERT_FALSE(response.error()) << response.error_message();
          for (const std::string& name : response.tensor_names()) executed[rank].push_back(name);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  ASSERT_EQ(executed[0].size(), 10u);
  for (int rank = 1; rank < kRanks; ++rank) EXPECT_EQ(executed[rank], executed[0]) << rank;
}

// Shutdown is collective: rank 2 asks first and keeps asking; the others still finish a tensor
// with it (rank 2 had reported it) before they ask too; only then does everyone stop.
TEST(ControllerTest, ShutdownWaitsForEveryRank) {
  constexpr int kRanks = 3;
  auto channels = transport::LocalCommunicator::CreateGroup(kRanks, "world");
  std::vector<std::vector<bool>> stopped(kRanks);
  std::vector<std::vector<std::string>> executed(kRanks);
  std::vector<int> requested_by(kRanks, -1);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kRanks; ++rank) {
    threads.emplace_back([&, rank] {
      Controller controller(channels[rank].get(), "world", rank);
      for (int cycle = 0; cycle < 4; ++cycle) {
        std::vector<proto::Request> requests;
        // Rank 2 reports "last" at once and asks to stop from cycle 0; the others report it in
        // cycle 1 and ask to stop from cycle 2.
        if ((rank == 2 && cycle == 0) || (rank != 2 && cycle == 1)) {
          requests.push_back(MakeRequest("last"));
        }
        const bool asks = rank == 2 || cycle >= 2;
        absl::StatusOr<proto::ResponseList> responses = controller.Negotiate(requests, asks);
        ASSERT_TRUE(responses.ok()) << responses.status();
        for (const proto::Response& response : responses->responses()) {
          for (const std::string& name : response.tensor_names()) executed[rank].push_back(name);
        }
        stopped[rank].push_back(responses->shutdown());
        if (responses->shutdown()) {
          requested_by[rank] = responses->shutdown_requested_by();
          break;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_EQ(stopped[rank], (std::vector<bool>{false, false, true})) << rank;
    EXPECT_EQ(executed[rank], std::vector<std::string>{"last"}) << rank;
    EXPECT_EQ(requested_by[rank], 0) << "the first rank (in rank order) that asked";
  }
}

// Counts the full negotiations a controller runs (each starts with a gather).
class CountingChannel final : public transport::ControlChannel {
 public:
  explicit CountingChannel(transport::ControlChannel* inner) : inner_(inner) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  absl::StatusOr<std::vector<std::string>> GatherToRoot(const std::string& local) override {
    ++gathers;
    return inner_->GatherToRoot(local);
  }
  absl::Status BroadcastFromRoot(std::string* message) override {
    return inner_->BroadcastFromRoot(message);
  }
  absl::Status AllreduceBitwiseAnd(absl::Span<uint64_t> words) override {
    return inner_->AllreduceBitwiseAnd(words);
  }
  int gathers = 0;

 private:
  transport::ControlChannel* inner_;
};

proto::Request Shaped(const std::string& name, int64_t length) {
  proto::Request request = MakeRequest(name);
  request.clear_shape();
  request.add_shape(length);
  return request;
}

// Runs `cycles` negotiation cycles on `ranks` threads with a cache of `capacity`.
// script(rank, cycle) gives that rank's new requests; returns each rank's executed responses.
struct CachedRun {
  std::vector<std::vector<proto::Response>> executed;
  std::vector<CacheStats> stats;
  std::vector<int> gathers;
};

// finished(rank, cycle), if given, says whether that rank asks to shut down in that cycle.
CachedRun RunCached(int ranks, int cycles, int capacity,
                    const std::function<std::vector<proto::Request>(int, int)>& script,
                    const std::function<bool(int, int)>& finished = nullptr) {
  auto channels = transport::LocalCommunicator::CreateGroup(ranks, "world");
  CachedRun run;
  run.executed.resize(ranks);
  run.stats.resize(ranks);
  run.gathers.resize(ranks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < ranks; ++rank) {
    threads.emplace_back([&, rank] {
      CountingChannel channel(channels[rank].get());
      Controller controller(&channel, "world", rank, /*fusion_threshold_bytes=*/0, capacity);
      for (int cycle = 0; cycle < cycles; ++cycle) {
        std::vector<proto::Request> requests = script(rank, cycle);
        for (proto::Request& request : requests) request.set_world_rank(rank);  // as the queue does
        absl::StatusOr<proto::ResponseList> responses =
            controller.Negotiate(std::move(requests), finished && finished(rank, cycle));
        ASSERT_TRUE(responses.ok()) << responses.status();
        for (const proto::Response& response : responses->responses()) {
          run.executed[rank].push_back(response);
        }
      }
      run.stats[rank] = controller.cache_stats();
      run.gathers[rank] = channel.gathers;
    });
  }
  for (std::thread& thread : threads) thread.join();
  return run;
}

std::vector<std::string> ExecutedNames(const std::vector<proto::Response>& responses) {
  std::vector<std::string> names;
  for (const proto::Response& response : responses) {
    for (const std::string& name : response.tensor_names()) names.push_back(name);
  }
  return names;
}

TEST(ControllerCacheTest, RepeatedStepsNegotiateWithOneAllreduce) {
  // Every cycle is a training step of the same five tensors.
  const std::vector<std::string> step = {"w1", "b1", "w2", "b2", "out"};
  CachedRun run = RunCached(3, 10, 64, [&](int, int) {
    std::vector<proto::Request> requests;
    for (const std::string& name : step) requests.push_back(Shaped(name, 8));
    return requests;
  });
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(ExecutedNames(run.executed[rank]).size(), 50u);
    EXPECT_EQ(ExecutedNames(run.executed[rank]), ExecutedNames(run.executed[0]));
    EXPECT_EQ(run.stats[rank].misses, 5);  // the first step only
    EXPECT_EQ(run.stats[rank].hits, 45);
    EXPECT_EQ(run.gathers[rank], 1) << "only the first step needs the coordinator";
  }
}

TEST(ControllerCacheTest, RanksHittingInDifferentOrdersAgree) {
  // Cycle 0 caches t0..t5; afterwards each rank reports them one or two per cycle, each rank in
  // its own order, so the cached bits become complete at different cycles.
  CachedRun run = RunCached(3, 20, 16, [](int rank, int cycle) {
    std::vector<proto::Request> requests;
    if (cycle == 0 || cycle == 10) {
      if (cycle == 0) for (int i = 0; i < 6; ++i) requests.push_back(Shaped("t" + std::to_string(i), 4));
      return requests;
    }
    const int slot = cycle % 10 - 1;  // 0..8 within each half
    if (cycle > 10 || slot >= 6) return requests;
    const int index = rank == 0 ? slot : rank == 1 ? 5 - slot : (slot * 5) % 6;
    requests.push_back(Shaped("t" + std::to_string(index), 4));
    return requests;
  });
  for (int rank = 0; rank < 3; ++rank) {
    std::vector<std::string> names = ExecutedNames(run.executed[rank]);
    EXPECT_EQ(names, ExecutedNames(run.executed[0]));
    EXPECT_EQ(names.size(), 12u);
    EXPECT_EQ(run.stats[rank].hits, 6);
  }
}

TEST(ControllerCacheTest, ChangedShapeInvalidatesTheEntryAndIsCaughtAsAMismatch) {
  CachedRun run = RunCached(3, 3, 16, [](int rank, int cycle) {
    // Cycle 0 caches w as [4]; in cycle 1 rank 1 changes it to [3]; cycle 2 is [4] everywhere.
    const int64_t length = (cycle == 1 && rank == 1) ? 3 : 4;
    return std::vector<proto::Request>{Shaped("w", length)};
  });
  for (int rank = 0; rank < 3; ++rank) {
    ASSERT_EQ(run.executed[rank].size(), 3u);
    EXPECT_EQ(run.executed[rank][0].collective(), proto::ALLREDUCE);
    EXPECT_FALSE(run.executed[rank][0].error()) << run.executed[rank][0].error_message();
    EXPECT_TRUE(run.executed[rank][1].error());
    EXPECT_THAT(run.executed[rank][1].error_message(), ::testing::HasSubstr("[3] on rank 1"));
    EXPECT_EQ(run.executed[rank][2].collective(), proto::ALLREDUCE);
    EXPECT_FALSE(run.executed[rank][2].error()) << run.executed[rank][2].error_message();
    EXPECT_EQ(run.stats[rank].hits, 0);  // the error dropped the entry; cycle 2 re-negotiates
    EXPECT_EQ(run.gathers[rank], 3);
  }
}

TEST(ControllerCacheTest, EvictionAndDisabledCacheStayCorrect) {
  for (int capacity : {0, 2}) {
    CachedRun run = RunCached(2, 6, capacity, [](int, int) {
      return std::vector<proto::Request>{Shaped("a", 1), Shaped("b", 1), Shaped("c", 1)};
    });
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_EQ(ExecutedNames(run.executed[rank]).size(), 18u) << capacity;
      EXPECT_EQ(ExecutedNames(run.executed[rank]), ExecutedNames(run.executed[0]));
      if (capacity == 0) EXPECT_EQ(run.stats[rank].hits, 0);
      EXPECT_LE(run.stats[rank].hits, 12);
    }
  }
}

TEST(ControllerCacheTest, CyclesWithNothingNewSkipTheFullPathEvenWithTheCacheOff) {
  // Cycle 0 reports "a" on every rank, cycle 3 reports "b"; the other cycles are idle.
  CachedRun run = RunCached(3, 6, /*capacity=*/0, [](int, int cycle) {
    if (cycle == 0) return std::vector<proto::Request>{Shaped("a", 2)};
    if (cycle == 3) return std::vector<proto::Request>{Shaped("b", 2)};
    return std::vector<proto::Request>{};
  });
  for (int rank = 0; rank < 3; ++rank) {
    EXPECT_EQ(ExecutedNames(run.executed[rank]), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(run.gathers[rank], 2) << "only the cycles with new requests gather";
  }
}

// Four ranks in two groups of two, as the runtime runs them: each rank has a world and a group
// controller, and one AND over the world channel carries both agreements, laid out as
// [world | group 0 | group 1]. Group 0 works in every cycle, group 1 only in some; their
// agreements must not leak into each other, and a group whose members have nothing new must
// not gather.
TEST(ControllerCacheTest, OneWorldAgreementServesEveryGroupSeparately) {
  constexpr int kRanks = 4, kGroupSize = 2, kCycles = 6, kCapacity = 64;
  auto world_channels = transport::LocalCommunicator::CreateGroup(kRanks, "world");
  std::vector<std::vector<std::unique_ptr<transport::LocalCommunicator>>> group_channels;
  for (int group = 0; group < kRanks / kGroupSize; ++group) {
    group_channels.push_back(
        transport::LocalCommunicator::CreateGroup(kGroupSize, absl::StrCat("group ", group)));
  }
  std::vector<std::vector<std::string>> group_executed(kRanks), world_executed(kRanks);
  std::vector<int> group_gathers(kRanks);
  std::vector<CacheStats> group_stats(kRanks);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < kRanks; ++rank) {
    threads.emplace_back([&, rank] {
      const int group = rank / kGroupSize;
      CountingChannel group_channel(group_channels[group][rank % kGroupSize].get());
      Controller world(world_channels[rank].get(), "world", rank, 0, kCapacity);
      Controller mine(&group_channel, absl::StrCat("group ", group), rank, 0, kCapacity);
      const size_t words = world.agreement_words();
      ASSERT_EQ(static_cast<size_t>(mine.agreement_words()), words);
      std::vector<uint64_t> agreement(words * 3);
      for (int cycle = 0; cycle < kCycles; ++cycle) {
        std::vector<proto::Request> group_requests;
        // Group 0: the same two tensors every cycle (cached from cycle 1 on). Group 1: its own
        // tensor in cycles 2 and 4 only.
        if (group == 0) {
          group_requests = {Shaped("g0.w", 4), Shaped("g0.b", 2)};
        } else if (cycle == 2 || cycle == 4) {
          group_requests = {Shaped("g1.w", 8)};
        }
        std::vector<proto::Request> world_requests;
        if (cycle == 5) world_requests = {Shaped("everyone", 1)};
        std::fill(agreement.begin(), agreement.end(), ~uint64_t{0});
        auto segment = [&](int index) { return absl::MakeSpan(agreement).subspan(index * words, words); };
        world.BeginCycle(std::move(world_requests), false, segment(0));
        mine.BeginCycle(std::move(group_requests), false, segment(1 + group));
        ASSERT_TRUE(world_channels[rank]->AllreduceBitwiseAnd(absl::MakeSpan(agreement)).ok());
        absl::StatusOr<proto::ResponseList> world_responses = world.FinishCycle(segment(0));
        ASSERT_TRUE(world_responses.ok()) << world_responses.status();
        for (const proto::Response& response : world_responses->responses()) {
          for (const std::string& name : response.tensor_names()) world_executed[rank].push_back(name);
        }
        absl::StatusOr<proto::ResponseList> group_responses = mine.FinishCycle(segment(1 + group));
        ASSERT_TRUE(group_responses.ok()) << group_responses.status();
        for (const proto::Response& response : group_responses->responses()) {
          ASSERT_EQ(response.collective(), proto::ALLREDUCE) << response.error_message();
          ASSERT_FALSE(response.error()) << response.error_message();
          for (const std::string& name : response.tensor_names()) group_executed[rank].push_back(name);
        }
      }
      group_gathers[rank] = group_channel.gathers;
      group_stats[rank] = mine.cache_stats();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int rank = 0; rank < kRanks; ++rank) {
    EXPECT_EQ(world_executed[rank], std::vector<std::string>{"everyone"}) << rank;
    if (rank < kGroupSize) {
      EXPECT_EQ(group_executed[rank].size(), 2u * kCycles) << rank;
      EXPECT_EQ(group_gathers[rank], 1) << "group 0 negotiates in full only in its first cycle";
      EXPECT_EQ(group_stats[rank].hits, 2 * (kCycles - 1));
    } else {
      EXPECT_EQ(group_executed[rank], (std::vector<std::string>{"g1.w", "g1.w"})) << rank;
      EXPECT_EQ(group_gathers[rank], 1) << "group 1: the first report only";
      EXPECT_EQ(group_stats[rank].hits, 1);
    }
  }
}

// Rank 0 finishes (asks to shut down) after two steps of "g"; ranks 1 and 2 run a third. With
// the cache, their third "g" is a hit waiting in their controllers; without it, a full-path
// request. Either way it must fail at once, naming rank 0, instead of waiting for rank 0
// forever; and a tensor rank 0 did submit before finishing ("late") still completes.
TEST(ControllerTest, TensorsAFinishedRankNeverSubmittedFailInsteadOfHanging) {
  for (int capacity : {16, 0}) {
    SCOPED_TRACE(absl::StrCat("cache capacity ", capacity));
    CachedRun run = RunCached(
        3, 6, capacity,
        [](int rank, int cycle) {
          std::vector<proto::Request> requests;
          if (cycle < 2 || (cycle == 2 && rank != 0)) requests.push_back(Shaped("g", 8));
          if ((rank == 0 && cycle == 1) || (rank != 0 && cycle == 4)) {
            requests.push_back(Shaped("late", 2));
          }
          return requests;
        },
        [](int rank, int cycle) { return rank == 0 && cycle >= 2; });
    for (int rank = 0; rank < 3; ++rank) {
      SCOPED_TRACE(absl::StrCat("rank ", rank));
      EXPECT_EQ(ExecutedNames(run.executed[rank]),
                (std::vector<std::string>{"g", "g", "g", "late"}));
      ASSERT_EQ(run.executed[rank].size(), 4u);
      EXPECT_EQ(run.executed[rank][1].collective(), proto::ALLREDUCE);
      EXPECT_FALSE(run.executed[rank][1].error()) << run.executed[rank][1].error_message();
      EXPECT_TRUE(run.executed[rank][2].error());
      EXPECT_THAT(run.executed[rank][2].error_message(),
                  ::testing::HasSubstr("tensor 'g' on communicator world can never complete: "
                                       "rank 0 has finished (shut down) without submitting it; "
                                       "submitted by ranks 1, 2."));
      EXPECT_EQ(run.executed[rank][3].collective(), proto::ALLREDUCE);
      EXPECT_FALSE(run.executed[rank][3].error()) << run.executed[rank][3].error_message();
    }
  }
}

// Join with the cache on and off: "g" is cached in cycle 0; rank 2 joins from cycle 1; ranks 0
// and 1 run "g" in cycles 1 and 2 (hits, which must take the full path for the coordinator to
// run them without rank 2) and join from cycle 3, rank 1 last. Every rank gets the same
// responses — rank 2 too, for tensors it never had — the join completes once, naming rank 1,
// and afterwards "g" (and "h", first run during the join) run over all three ranks again with
// identical caches.
TEST(ControllerTest, JoinedRanksTakePartInAllreducesUntilEveryoneHasJoined) {
  for (int capacity : {16, 0}) {
    SCOPED_TRACE(absl::StrCat("cache capacity ", capacity));
    constexpr int kRanks = 3;
    constexpr int kCycles = 8;
    auto channels = transport::LocalCommunicator::CreateGroup(kRanks, "world");
    std::vector<std::vector<std::string>> executed(kRanks);
    std::vector<std::vector<int>> completions(kRanks);  // cycle, last joined rank
    std::vector<CacheStats> stats(kRanks);
    std::vector<std::thread> threads;
    for (int rank = 0; rank < kRanks; ++rank) {
      threads.emplace_back([&, rank] {
        Controller controller(channels[rank].get(), "world", rank, 0, capacity);
        bool joined = false;
        for (int cycle = 0; cycle < kCycles; ++cycle) {
          if ((rank == 2 && cycle == 1) || (rank == 0 && cycle == 3) ||
              (rank == 1 && cycle == 4)) {
            joined = true;
          }
          std::vector<proto::Request> requests;
          const bool runs_g = cycle == 0 || cycle >= 6 || (!joined && cycle <= 2);
          if (runs_g) requests.push_back(Shaped("g", 8));
          // "h" first runs while rank 2 is joined: if the others cached it then, their caches
          // would differ from rank 2's, and their hits in cycle 6 would wait for it forever.
          if (cycle >= 6 || (!joined && cycle == 2)) requests.push_back(Shaped("h", 4));
          for (proto::Request& request : requests) request.set_world_rank(rank);
          absl::StatusOr<proto::ResponseList> responses =
              controller.Negotiate(std::move(requests), false, joined);
          ASSERT_TRUE(responses.ok()) << responses.status();
          for (const proto::Response& response : responses->responses()) {
            ASSERT_EQ(response.collective(), proto::ALLREDUCE) << response.error_message();
            ASSERT_FALSE(response.error()) << response.error_message();
            for (const std::string& name : response.tensor_names()) {
              executed[rank].push_back(absl::StrCat(name, "@", cycle));
            }
          }
          if (responses->join_complete()) {
            completions[rank].push_back(cycle);
            completions[rank].push_back(responses->last_joined_rank());
            joined = false;
          }
        }
        stats[rank] = controller.cache_stats();
      });
    }
    for (std::thread& thread : threads) thread.join();
    for (int rank = 0; rank < kRanks; ++rank) {
      SCOPED_TRACE(absl::StrCat("rank ", rank));
      EXPECT_EQ(executed[rank], (std::vector<std::string>{"g@0", "g@1", "g@2", "h@2", "g@6",
                                                           "h@6", "g@7", "h@7"}));
      EXPECT_EQ(completions[rank], (std::vector<int>{4, 1}));
    }
    if (capacity > 0) {
      // Cycles 6 and 7 are hits on every rank: the caches stayed identical through the join.
      for (int rank = 0; rank < kRanks; ++rank) EXPECT_GE(stats[rank].hits, 2) << rank;
    }
  }
}

}  // namespace
}  // namespace hilo
