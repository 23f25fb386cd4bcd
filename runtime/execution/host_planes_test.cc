#include "runtime/execution/host_planes.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/local_job.h"

namespace hilo {
namespace {

constexpr int64_t kCount = 1000;

HostTransportOptions Options(bool shm, bool hierarchical,
                             RuntimeConfig::CrossTransport cross = RuntimeConfig::CrossTransport::kMpi) {
  HostTransportOptions options;
  options.shm_allreduce = shm;
  options.hierarchical_allreduce = hierarchical;
  options.cross_transport = cross;
  options.socket_interface = "lo";
  options.peer_timeout = absl::Seconds(30);
  return options;
}

// Each rank's planes, built together as the runtime does at init.
struct Built {
  std::vector<std::unique_ptr<HostPlanes>> planes;
  std::vector<absl::Status> statuses;
};

Built Build(LocalJob& job, const HostTransportOptions& options) {
  Built built;
  built.planes.resize(job.world_size());
  built.statuses.resize(job.world_size());
  Logger logger(LogLevel::kWarning);
  job.Run([&](int rank) {
    absl::StatusOr<std::unique_ptr<HostPlanes>> planes =
        HostPlanes::Create(job.Communicators(rank), options, logger);
    built.statuses[rank] = planes.status();
    if (planes.ok()) built.planes[rank] = *std::move(planes);
  });
  return built;
}

// Rank r contributes r + 1 everywhere: every element of a world sum is P(P+1)/2.
void ExpectWorldAllreduceSums(LocalJob& job, Built& built, bool flat) {
  const int size = job.world_size();
  std::vector<std::vector<float>> data(size);
  std::vector<absl::Status> statuses(size);
  job.Run([&](int rank) {
    data[rank].assign(kCount, static_cast<float>(rank + 1));
    DataPlane& plane = flat ? built.planes[rank]->FlatWorld()
                            : built.planes[rank]->For(CommunicatorKind::kWorld);
    statuses[rank] = plane.communicator.AllreduceSum(data[rank].data(), kCount, DataType::kFloat32);
  });
  for (int rank = 0; rank < size; ++rank) {
    ASSERT_TRUE(statuses[rank].ok()) << statuses[rank];
    EXPECT_EQ(data[rank], std::vector<float>(kCount, size * (size + 1) / 2.0f)) << rank;
  }
}

TEST(HostPlanesTest, FlatPlanesGoThroughTheSessionAndAreCounted) {
  LocalJob job(4, 2);
  Built built = Build(job, Options(/*shm=*/false, /*hierarchical=*/false));
  for (const absl::Status& status : built.statuses) ASSERT_TRUE(status.ok()) << status;
  EXPECT_FALSE(built.planes[0]->hierarchical_world());
  EXPECT_EQ(&built.planes[0]->FlatWorld(), &built.planes[0]->For(CommunicatorKind::kWorld));
  EXPECT_FALSE(built.planes[0]->uses_shared_memory(CommunicatorKind::kGroup));
  EXPECT_EQ(built.planes[0]->tcp_cross(), nullptr);
  // Without a segment, agreements take the session's control channel.
  EXPECT_EQ(&built.planes[1]->AgreementChannel(CommunicatorKind::kGroup),
            static_cast<transport::ControlChannel*>(&job.Communicator(1, CommunicatorKind::kGroup)));
  ExpectWorldAllreduceSums(job, built, /*flat=*/false);
  const transport::TransportCounters world = built.planes[0]->counters(CommunicatorKind::kWorld);
  EXPECT_EQ(world.calls, 1);
  EXPECT_EQ(world.bytes, kCount * 4);
  EXPECT_EQ(built.planes[0]->counters(CommunicatorKind::kGroup).calls, 0);
}

TEST(HostPlanesTest, AHierarchicalWorldGoesThroughGroupAndCrossAndKeepsTheFlatOne) {
  LocalJob job(4, 2);
  Built built = Build(job, Options(/*shm=*/false, /*hierarchical=*/true));
  for (const absl::Status& status : built.statuses) ASSERT_TRUE(status.ok()) << status;
  EXPECT_TRUE(built.planes[0]->hierarchical_world());
  EXPECT_NE(&built.planes[0]->FlatWorld(), &built.planes[0]->For(CommunicatorKind::kWorld));
  ExpectWorldAllreduceSums(job, built, /*flat=*/false);
  EXPECT_EQ(built.planes[0]->counters(CommunicatorKind::kWorld).calls, 0);
  EXPECT_GT(built.planes[0]->counters(CommunicatorKind::kGroup).calls, 0);
  EXPECT_GT(built.planes[0]->counters(CommunicatorKind::kCross).calls, 0);
  ExpectWorldAllreduceSums(job, built, /*flat=*/true);
  EXPECT_EQ(built.planes[0]->counters(CommunicatorKind::kWorld).calls, 1);
}

TEST(HostPlanesTest, MembersOfOneMachineShareASegmentForDataAndAgreements) {
  LocalJob job(4, 2);
  Built built = Build(job, Options(/*shm=*/true, /*hierarchical=*/false));
  for (const absl::Status& status : built.statuses) ASSERT_TRUE(status.ok()) << status;
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    EXPECT_TRUE(built.planes[2]->uses_shared_memory(kind)) << CommunicatorKindName(kind);
  }
  EXPECT_NE(&built.planes[1]->AgreementChannel(CommunicatorKind::kGroup),
            static_cast<transport::ControlChannel*>(&job.Communicator(1, CommunicatorKind::kGroup)));
  ExpectWorldAllreduceSums(job, built, /*flat=*/false);
  // The agreement is the AND of the group's words.
  std::vector<std::vector<uint64_t>> words(4);
  job.Run([&](int rank) {
    words[rank] = {~(uint64_t{1} << rank)};
    ASSERT_TRUE(built.planes[rank]
                    ->AgreementChannel(CommunicatorKind::kGroup)
                    .AllreduceBitwiseAnd(absl::MakeSpan(words[rank]))
                    .ok());
  });
  EXPECT_EQ(words[0][0], ~uint64_t{0b11});
  EXPECT_EQ(words[3][0], ~uint64_t{0b1100});
  for (auto& planes : built.planes) planes->Close();
  EXPECT_EQ(built.planes[0]->counters(CommunicatorKind::kWorld).calls, 1);  // still readable
}

TEST(HostPlanesTest, TheCrossCommunicatorTakesTheTcpRingWhenAskedFor) {
  LocalJob job(4, 2);
  Built built = Build(job, Options(/*shm=*/true, /*hierarchical=*/false,
                                   RuntimeConfig::CrossTransport::kTcp));
  for (const absl::Status& status : built.statuses) ASSERT_TRUE(status.ok()) << status;
  EXPECT_NE(built.planes[0]->tcp_cross(), nullptr);
  EXPECT_FALSE(built.planes[0]->uses_shared_memory(CommunicatorKind::kCross));
  EXPECT_TRUE(built.planes[0]->uses_shared_memory(CommunicatorKind::kGroup));
  std::vector<std::vector<float>> data(4);
  job.Run([&](int rank) {
    data[rank].assign(kCount, static_cast<float>(rank + 1));
    ASSERT_TRUE(built.planes[rank]
                    ->For(CommunicatorKind::kCross)
                    .communicator.AllreduceSum(data[rank].data(), kCount, DataType::kFloat32)
                    .ok());
  });
  // Cross communicators join the ranks with the same group rank: {0, 2} and {1, 3}.
  EXPECT_EQ(data[0], std::vector<float>(kCount, 1.0f + 3.0f));
  EXPECT_EQ(data[3], std::vector<float>(kCount, 2.0f + 4.0f));
}

TEST(HostPlanesTest, ABadCountersKindReadsZero) {
  LocalJob job(1, 1);
  Built built = Build(job, Options(false, false));
  ASSERT_TRUE(built.statuses[0].ok());
  EXPECT_EQ(built.planes[0]->counters(static_cast<CommunicatorKind>(7)).calls, 0);
}

}  // namespace
}  // namespace hilo
