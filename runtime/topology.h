// Where a rank sits in hilo's two-level layout, and the three communicators it belongs to.
//
// P ranks form k = P / G groups of G consecutive ranks: rank r is member j = r % G of group
// g = r / G. Each rank belongs to three communicators:
//   world: all P ranks                     (rank in it: r)
//   group: the G ranks of its group         (rank in it: j)   — fast links, every-step allreduce
//   cross: the k ranks with the same j      (rank in it: g)   — slow links, periodic averaging
// Pure value type; thread-safe.
#ifndef HILO_RUNTIME_TOPOLOGY_H_
#define HILO_RUNTIME_TOPOLOGY_H_

#include <array>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hilo {

enum class CommunicatorKind : int { kWorld = 0, kGroup = 1, kCross = 2 };
inline constexpr int kNumCommunicatorKinds = 3;
inline constexpr std::array<CommunicatorKind, kNumCommunicatorKinds> kAllCommunicatorKinds = {
    CommunicatorKind::kWorld, CommunicatorKind::kGroup, CommunicatorKind::kCross};

absl::string_view CommunicatorKindName(CommunicatorKind kind);  // "world", "group", "cross"

struct Topology {
  int world_rank = 0;
  int world_size = 1;
  int group_size = 1;  // G
  int num_groups = 1;  // k
  int group = 0;       // g = world_rank / G
  int group_rank = 0;  // j = world_rank % G
  int local_rank = 0;  // among the ranks on this node
  int local_size = 1;

  int CommunicatorSize(CommunicatorKind kind) const;
  int CommunicatorRank(CommunicatorKind kind) const;
  // World rank of the member with rank `communicator_rank` in this rank's communicator `kind`.
  int WorldRankOf(CommunicatorKind kind, int communicator_rank) const;
  // MPI_Comm_split color for this rank's communicator `kind` (world: everyone shares color 0).
  int SplitColor(CommunicatorKind kind) const;
  // "world", "group 1", "cross 3": the name in logs and errors.
  std::string CommunicatorName(CommunicatorKind kind) const;
  std::string ToString() const;
};

// Builds the layout of `world_rank` among `world_size` ranks. `configured_group_size` is
// HILO_GROUP_SIZE: 0 means "ranks per node", which requires every node to run the same number
// (`min_local_size` == `max_local_size`, the extremes over all ranks). Errors are
// INVALID_ARGUMENT with a message that says what to change.
absl::StatusOr<Topology> MakeTopology(int world_rank, int world_size, int local_rank,
                                      int local_size, int min_local_size, int max_local_size,
                                      int configured_group_size);

}  // namespace hilo

#endif  // HILO_RUNTIME_TOPOLOGY_H_
