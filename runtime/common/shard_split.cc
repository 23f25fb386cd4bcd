#include "runtime/common/shard_split.h"

#include <algorithm>

namespace hilo {

int64_t ShardSize(int64_t total, int shards, int shard) {
  return total / shards + (shard < total % shards ? 1 : 0);
}

int64_t ShardOffset(int64_t total, int shards, int shard) {
  return shard * (total / shards) + std::min<int64_t>(shard, total % shards);
}

std::vector<int64_t> ShardSizes(int64_t total, int shards) {
  std::vector<int64_t> sizes(shards);
  for (int j = 0; j < shards; ++j) sizes[j] = ShardSize(total, shards, j);
  return sizes;
}

}  // namespace hilo
