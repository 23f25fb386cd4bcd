// How a flat buffer of `total` elements splits into `shards` nearly equal, consecutive shards:
// shard j has total / shards elements, plus one for the first total % shards shards. One formula
// for every place that splits work among the members of a communicator (the sharded averaging and
// hierarchical allreduce steps, the shared-memory transport's reduction ranges), so that the ranks
// of one job never disagree on a boundary.
#ifndef HILO_RUNTIME_COMMON_SHARD_SPLIT_H_
#define HILO_RUNTIME_COMMON_SHARD_SPLIT_H_

#include <cstdint>
#include <vector>

namespace hilo {

// Elements in shard `shard`, and where it starts.
int64_t ShardSize(int64_t total, int shards, int shard);
int64_t ShardOffset(int64_t total, int shards, int shard);
// ShardSize of every shard, in order.
std::vector<int64_t> ShardSizes(int64_t total, int shards);

}  // namespace hilo

#endif  // HILO_RUNTIME_COMMON_SHARD_SPLIT_H_
