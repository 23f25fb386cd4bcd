#include "runtime/topology.h"

#include "absl/strings/str_cat.h"

namespace hilo {

absl::string_view CommunicatorKindName(CommunicatorKind kind) {
  switch (kind) {
    case CommunicatorKind::kWorld: return "world";
    case CommunicatorKind::kGroup: return "group";
    case CommunicatorKind::kCross: return "cross";
  }
  return "invalid";
}

int Topology::CommunicatorSize(CommunicatorKind kind) const {
  switch (kind) {
    case CommunicatorKind::kWorld: return world_size;
    case CommunicatorKind::kGroup: return group_size;
    case CommunicatorKind::kCross: return num_groups;
  }
  return 0;
}

int Topology::CommunicatorRank(CommunicatorKind kind) const {
  switch (kind) {
    case CommunicatorKind::kWorld: return world_rank;
    case CommunicatorKind::kGroup: return group_rank;
    case CommunicatorKind::kCross: return group;
  }
  return -1;
}

int Topology::WorldRankOf(CommunicatorKind kind, int communicator_rank) const {
  switch (kind) {
    case CommunicatorKind::kWorld: return communicator_rank;
    case CommunicatorKind::kGroup: return group * group_size + communicator_rank;
    case CommunicatorKind::kCross: return communicator_rank * group_size + group_rank;
  }
  return -1;
}

int Topology::SplitColor(CommunicatorKind kind) const {
  switch (kind) {
    case CommunicatorKind::kWorld: return 0;
    case CommunicatorKind::kGroup: return group;
    case CommunicatorKind::kCross: return group_rank;
  }
  return -1;
}

std::string Topology::CommunicatorName(CommunicatorKind kind) const {
  if (kind == CommunicatorKind::kWorld) return "world";
  return absl::StrCat(CommunicatorKindName(kind), " ", SplitColor(kind));
}

std::string Topology::ToString() const {
  return absl::StrCat("rank ", world_rank, " of ", world_size, ": group ", group, " of ",
                      num_groups, " (member ", group_rank, " of ", group_size, "), local rank ",
                      local_rank, " of ", local_size);
}

absl::StatusOr<Topology> MakeTopology(int world_rank, int world_size, int local_rank,
                                      int local_size, int min_local_size, int max_local_size,
                                      int configured_group_size) {
  if (world_size <= 0 || world_rank < 0 || world_rank >= world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", world_rank, " is not a rank of a world of ", world_size));
  }
  int group_size = configured_group_size;
  if (group_size == 0) {
    if (min_local_size != max_local_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "HILO_GROUP_SIZE is not set and nodes run different numbers of ranks (", min_local_size,
          " to ", max_local_size, "), so a group cannot be a node; set HILO_GROUP_SIZE"));
    }
    group_size = local_size;
  }
  if (group_size < 0 || group_size > world_size || world_size % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "group size ", group_size,
        configured_group_size == 0 ? " (ranks per node)" : " (HILO_GROUP_SIZE)",
        " does not divide the world size ", world_size, " into whole groups; choose a divisor of ",
        world_size));
  }
  Topology topology;
  topology.world_rank = world_rank;
  topology.world_size = world_size;
  topology.group_size = group_size;
  topology.num_groups = world_size / group_size;
  topology.group = world_rank / group_size;
  topology.group_rank = world_rank % group_size;
  topology.local_rank = local_rank;
  topology.local_size = local_size;
  return topology;
}

}  // namespace hilo
