#include "runtime/negotiation/response_cache.h"

#include "gtest/gtest.h"

namespace hilo {
namespace {

proto::Request Signature(const std::string& name, int64_t length,
                         proto::CollectiveType collective = proto::ALLREDUCE) {
  proto::Request request;
  request.set_tensor_name(name);
  request.set_collective(collective);
  request.add_shape(length);
  return request;
}

proto::Response ResponseFor(const std::string& name) {
  proto::Response response;
  response.set_collective(proto::ALLREDUCE);
  response.add_tensor_names(name);
  return response;
}

TEST(ResponseCacheTest, LowestFreeSlotThenLeastRecentlyUsed) {
  ResponseCache cache(3);
  EXPECT_EQ(cache.Put(Signature("a", 1), ResponseFor("a")), 0);
  EXPECT_EQ(cache.Put(Signature("b", 1), ResponseFor("b")), 1);
  EXPECT_EQ(cache.Put(Signature("c", 1), ResponseFor("c")), 2);
  cache.Touch(0);                                                  // a is now the most recent
  EXPECT_EQ(cache.Put(Signature("d", 1), ResponseFor("d")), 1);    // evicts b
  EXPECT_FALSE(cache.Find("b").has_value());
  EXPECT_EQ(cache.Find("d"), 1);
  EXPECT_EQ(cache.name(1), "d");
  cache.Erase(2);
  EXPECT_EQ(cache.Put(Signature("e", 1), ResponseFor("e")), 2);    // the freed slot
  EXPECT_EQ(cache.size(), 3);
}

TEST(ResponseCacheTest, PutOfAKnownNameRefreshesItsSlot) {
  ResponseCache cache(2);
  cache.Put(Signature("a", 1), ResponseFor("a"));
  EXPECT_EQ(cache.Put(Signature("a", 7), ResponseFor("a")), 0);
  EXPECT_EQ(cache.signature(0).shape(0), 7);
  EXPECT_EQ(cache.size(), 1);
}

TEST(ResponseCacheTest, TwoCachesFedTheSameSequenceStayIdentical) {
  ResponseCache one(4), two(4);
  for (int step = 0; step < 50; ++step) {
    const std::string name = "t" + std::to_string((step * 7) % 9);
    const int slot_one = one.Put(Signature(name, step % 3), ResponseFor(name));
    const int slot_two = two.Put(Signature(name, step % 3), ResponseFor(name));
    ASSERT_EQ(slot_one, slot_two) << step;
    if (step % 5 == 0) {
      one.Touch(slot_one);
      two.Touch(slot_two);
    }
  }
  for (int slot = 0; slot < 4; ++slot) EXPECT_EQ(one.name(slot), two.name(slot));
}

TEST(ResponseCacheTest, SignaturesAndCacheability) {
  EXPECT_TRUE(ResponseCache::SameSignature(Signature("a", 4), Signature("a", 4)));
  EXPECT_FALSE(ResponseCache::SameSignature(Signature("a", 4), Signature("a", 5)));
  proto::Request other_dtype = Signature("a", 4);
  other_dtype.set_dtype(proto::BFLOAT16);
  EXPECT_FALSE(ResponseCache::SameSignature(Signature("a", 4), other_dtype));
  proto::Request other_rank = Signature("a", 4);
  other_rank.set_world_rank(9);  // who reported it does not matter
  EXPECT_TRUE(ResponseCache::SameSignature(Signature("a", 4), other_rank));
  EXPECT_TRUE(ResponseCache::Cacheable(Signature("a", 1, proto::BROADCAST)));
  EXPECT_TRUE(ResponseCache::Cacheable(Signature("m", 0, proto::AVERAGE_ACROSS_GROUPS)));
  proto::Request model = Signature("m", 0, proto::AVERAGE_ACROSS_GROUPS);
  model.add_parameters()->set_count(10);
  proto::Request resized = model;
  resized.mutable_parameters(0)->set_count(11);
  EXPECT_FALSE(ResponseCache::SameSignature(model, resized));  // a new layout is a new request
  proto::Request other_algorithm = model;
  other_algorithm.set_algorithm(proto::WORLD_ALLREDUCE);
  EXPECT_FALSE(ResponseCache::SameSignature(model, other_algorithm));
  EXPECT_TRUE(ResponseCache::Cacheable(Signature("r", 4, proto::REDUCESCATTER)));
  EXPECT_FALSE(ResponseCache::Cacheable(Signature("a", 1, proto::ALLGATHER)));
  EXPECT_FALSE(ResponseCache::Cacheable(Signature("s", 4, proto::ALLTOALL)));
  EXPECT_FALSE(ResponseCache(0).enabled());
}

}  // namespace
}  // namespace hilo
