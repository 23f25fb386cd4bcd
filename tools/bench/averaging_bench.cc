// Benchmark of one cross-group averaging round: hilo's sharded algorithm, hilo's baseline
// (world allreduce / P), and two references written directly against MPI here — the same sharded
// algorithm, and one plain MPI_Allreduce of the whole model over all ranks (what a user would
// write instead) — measured in one MPI job. With --link-gbit (the rate of each node's link, on
// emulated nodes), also the link-bound time: the bytes the sharded round must send out of each
// node, 2 (k-1)/k * 4N, divided by the rate. The direct version runs while hilo is stopped,
// so that it has the machine to itself: what hilo adds, its coordinator thread included, shows up
// in hilo's numbers only. Direct and hilo blocks alternate (hilo starts and stops each time) so
// that the machine's drift does not favour either.
//
// Run as every rank of a job (tools/bench/run_averaging_bench.sh runs the layouts of the issue):
//   mpirun -np 8 -x HILO_GROUP_SIZE=4 bazel-bin/tools/bench/averaging_bench --sizes=1M,10M,25M
// Each round is timed from a barrier to the slowest rank's finish; the median over all blocks is
// reported, per model size, as a table on stdout and one JSON
// object per line prefixed with "JSON " for scripts.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/hilo_cpp.h"
#include "tools/bench/bench_util.h"

ABSL_FLAG(std::string, sizes, "1M,10M,25M", "model sizes in float32 elements (K and M suffixes)");
ABSL_FLAG(int, rounds, 9, "timed rounds per algorithm and size, in all");
ABSL_FLAG(int, warmup, 1, "untimed rounds before each block");
ABSL_FLAG(double, link_gbit, 0,
          "each node's link rate in Gbit/s, for the link-bound column (0: not printed)");
ABSL_FLAG(int, blocks, 3,
          "the rounds are split into this many alternating blocks of direct MPI and hilo");

namespace hilo {
namespace {

// The sharded round written directly against MPI: the same layout and steps as
// runtime/averaging/cross_group_averager.cc, without the runtime around it.
void DirectShardedRound(std::vector<float>& model, MPI_Comm group, MPI_Comm cross, int num_groups) {
  int group_size = 0, member = 0;
  MPI_Comm_size(group, &group_size);
  MPI_Comm_rank(group, &member);
  const int64_t n = static_cast<int64_t>(model.size());
  std::vector<int> counts(group_size), displacements(group_size);
  for (int j = 0; j < group_size; ++j) {
    counts[j] = static_cast<int>(n / group_size + (j < n % group_size ? 1 : 0));
    displacements[j] = j == 0 ? 0 : displacements[j - 1] + counts[j - 1];
  }
  float* shard = model.data() + displacements[member];
  MPI_Allreduce(MPI_IN_PLACE, shard, counts[member], MPI_FLOAT, MPI_SUM, cross);
  const float scale = 1.0f / static_cast<float>(num_groups);
  for (int i = 0; i < counts[member]; ++i) shard[i] *= scale;
  MPI_Allgatherv(MPI_IN_PLACE, counts[member], MPI_FLOAT, model.data(), counts.data(),
                 displacements.data(), MPI_FLOAT, group);
}

void Append(std::vector<double>* all, const std::vector<double>& more) {
  all->insert(all->end(), more.begin(), more.end());
}

}  // namespace
}  // namespace hilo

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<int64_t> sizes = hilo::bench::ParseSizes(absl::GetFlag(FLAGS_sizes));
  if (sizes.empty()) return 2;
  const int warmup = absl::GetFlag(FLAGS_warmup), rounds = absl::GetFlag(FLAGS_rounds);
  const int blocks = std::max(1, absl::GetFlag(FLAGS_blocks));

  // MPI first, with the thread level hilo needs; hilo then uses it and leaves it to us, which
  // also lets hilo start and stop several times in this process.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  absl::StatusOr<hilo::RuntimeConfig> config = hilo::ConfigFromEnvironment();
  if (!config.ok()) {
    std::fprintf(stderr, "averaging_bench: %s\n", config.status().ToString().c_str());
    return 1;
  }
  int world_rank = 0, world_size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size);
  // The layout hilo builds: groups of consecutive ranks, by default the ranks of a node.
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node);
  int node_size = 0;
  MPI_Comm_size(node, &node_size);
  MPI_Comm_free(&node);
  const int group_size = config->group_size > 0 ? config->group_size : node_size;
  const int num_groups = world_size / group_size;
  MPI_Comm group, cross;
  MPI_Comm_split(MPI_COMM_WORLD, world_rank / group_size, world_rank % group_size, &group);
  MPI_Comm_split(MPI_COMM_WORLD, world_rank % group_size, world_rank / group_size, &cross);

  // Alternating blocks: the direct version with the machine to itself (hilo stopped), then hilo
  // started, measured, and stopped. Alternating spreads the machine's drift over all three.
  std::vector<std::vector<double>> direct(sizes.size()), world_mpi(sizes.size()),
      sharded(sizes.size()), baseline(sizes.size());
  const int per_block = std::max(1, rounds / blocks);
  for (int block = 0; block < blocks; ++block) {
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::vector<float> model(sizes[s], static_cast<float>(world_rank / group_size));
      hilo::Append(&direct[s], hilo::bench::RoundSeconds([&] { hilo::DirectShardedRound(model, group, cross, num_groups); },
                                      warmup, per_block));
      hilo::Append(&world_mpi[s], hilo::bench::RoundSeconds([&] {
        MPI_Allreduce(MPI_IN_PLACE, model.data(), static_cast<int>(model.size()), MPI_FLOAT, MPI_SUM,
                      MPI_COMM_WORLD);
      }, warmup, per_block));
    }
    absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init(*config);
    if (!hilo.ok()) {
      std::fprintf(stderr, "averaging_bench: %s\n", hilo.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t s = 0; s < sizes.size(); ++s) {
      const int64_t elements = sizes[s];
      std::vector<float> model(elements, static_cast<float>(world_rank / group_size));
      auto hilo_round = [&](hilo::AveragingAlgorithm algorithm) {
        hilo::AveragingOptions options;
        options.algorithm = algorithm;
        options.check_group_consistency = false;
        absl::StatusOr<hilo::Handle> handle = (*hilo)->AverageAcrossGroups(
            "bench.model", {{model.data(), hilo::DataType::kFloat32, {elements}}}, options);
        absl::Status status = handle.ok() ? handle->Wait(absl::Minutes(5)) : handle.status();
        if (!status.ok()) {
          std::fprintf(stderr, "rank %d: %s\n", world_rank, status.ToString().c_str());
          MPI_Abort(MPI_COMM_WORLD, 1);
        }
      };
      hilo::Append(&sharded[s], hilo::bench::RoundSeconds([&] { hilo_round(hilo::AveragingAlgorithm::kSharded); },
                                       warmup, per_block));
      hilo::Append(&baseline[s], hilo::bench::RoundSeconds([&] { hilo_round(hilo::AveragingAlgorithm::kWorldAllreduce); },
                                        warmup, per_block));
    }
    if (!(*hilo)->Shutdown().ok()) MPI_Abort(MPI_COMM_WORLD, 1);
  }

  if (world_rank == 0) {
    const double link_gbit = absl::GetFlag(FLAGS_link_gbit);
    std::printf("averaging round, P = %d as %d groups x %d, median [min-max] of %d rounds in %d "
                "alternating blocks (ms)\n",
                world_size, num_groups, group_size, per_block * blocks, blocks);
    std::printf("%10s %22s %22s %22s %22s %10s %9s %9s %9s\n", "elements", "hilo-sharded",
                "hilo-baseline", "mpi-sharded", "mpi-world-allreduce", "link-bound", "of-bound",
                "mpi-shd/", "mpi-wld/");
    const auto cell = [](const std::vector<double>& seconds) {
      char text[64];
      std::snprintf(text, sizeof(text), "%.1f [%.1f-%.1f]", hilo::bench::Median(seconds) * 1e3,
                    *std::min_element(seconds.begin(), seconds.end()) * 1e3,
                    *std::max_element(seconds.begin(), seconds.end()) * 1e3);
      return std::string(text);
    };
    for (size_t s = 0; s < sizes.size(); ++s) {
      const double h = hilo::bench::Median(sharded[s]), b = hilo::bench::Median(baseline[s]),
                   d = hilo::bench::Median(direct[s]), w = hilo::bench::Median(world_mpi[s]);
      // Bytes out of each node per sharded round: every member sends 2 (k-1)/k of its shard.
      const double node_bytes = 2.0 * (num_groups - 1) / num_groups * 4.0 * sizes[s];
      const double bound = link_gbit > 0 ? node_bytes * 8 / (link_gbit * 1e9) : 0;
      std::printf("%10lld %22s %22s %22s %22s %10.1f %8.0f%% %8.2fx %8.2fx\n",
                  static_cast<long long>(sizes[s]), cell(sharded[s]).c_str(),
                  cell(baseline[s]).c_str(), cell(direct[s]).c_str(), cell(world_mpi[s]).c_str(),
                  bound * 1e3, bound > 0 ? 100 * bound / h : 0.0, d / h, w / h);
      const auto range = [](const std::vector<double>& seconds) {
        return std::make_pair(*std::min_element(seconds.begin(), seconds.end()) * 1e3,
                              *std::max_element(seconds.begin(), seconds.end()) * 1e3);
      };
      const auto [hmin, hmax] = range(sharded[s]);
      const auto [dmin, dmax] = range(direct[s]);
      const auto [wmin, wmax] = range(world_mpi[s]);
      std::printf("JSON {\"world_size\": %d, \"num_groups\": %d, \"group_size\": %d, "
                  "\"elements\": %lld, \"rounds\": %zu, \"link_gbit\": %g, "
                  "\"hilo_sharded_ms\": %.3f, \"hilo_sharded_min_ms\": %.3f, "
                  "\"hilo_sharded_max_ms\": %.3f, \"hilo_baseline_ms\": %.3f, "
                  "\"mpi_sharded_ms\": %.3f, \"mpi_sharded_min_ms\": %.3f, "
                  "\"mpi_sharded_max_ms\": %.3f, \"mpi_world_allreduce_ms\": %.3f, "
                  "\"mpi_world_allreduce_min_ms\": %.3f, \"mpi_world_allreduce_max_ms\": %.3f, "
                  "\"link_bound_ms\": %.3f, \"fraction_of_link_bound\": %.3f, "
                  "\"mpi_sharded_over_hilo\": %.3f, \"mpi_world_over_hilo\": %.3f, "
                  "\"baseline_over_sharded\": %.3f}\n",
                  world_size, num_groups, group_size, static_cast<long long>(sizes[s]),
                  sharded[s].size(), link_gbit, h * 1e3, hmin, hmax, b * 1e3, d * 1e3, dmin, dmax,
                  w * 1e3, wmin, wmax, bound * 1e3, bound > 0 ? bound / h : 0.0, d / h, w / h,
                  b / h);
    }
    std::fflush(stdout);
  }
  MPI_Comm_free(&group);
  MPI_Comm_free(&cross);
  MPI_Finalize();
  return 0;
}
