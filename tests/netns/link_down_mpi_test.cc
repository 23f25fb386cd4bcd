// A node's link goes down during averaging rounds (tools/netns/emulated_nodes.sh --link-down):
// every rank must fail with an error that names the unreachable node, within the stall timeout,
// and leave.
//   link_down_mpi_test SECONDS_ALLOWED REPORT_DIR [MODEL_ELEMENTS]
// Runs averaging rounds of a model large enough that a round takes a while on a 1 Gbit/s link,
// until one fails. Then prints, per rank, one line
//   "rank R: round failed after S s: <status>"
// into REPORT_DIR/rank-R.txt (the nodes share the filesystem, and a cut-off node's stdout never
// reaches mpirun) and to stdout, and exits with status 3 at once (_exit: MPI's own shutdown would wait for the lost node). Exits
// 1 if no round failed within 120 s, or if the failure took longer than SECONDS_ALLOWED from the
// last round that completed, or did not name a host.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "client/hilo_cpp.h"

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: link_down_mpi_test SECONDS_ALLOWED REPORT_DIR [MODEL_ELEMENTS]\n");
    return 2;
  }
  const double allowed_seconds = std::atof(argv[1]);
  const std::string report_dir = argv[2];
  absl::StatusOr<hilo::RuntimeConfig> config = hilo::ConfigFromEnvironment();
  if (!config.ok()) return 2;
  absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init(*config);
  if (!hilo.ok()) {
    std::fprintf(stderr, "init: %s\n", hilo.status().ToString().c_str());
    return 2;
  }
  const int rank = (*hilo)->topology()->world_rank;
  const auto report = [&](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    if (FILE* file = std::fopen((report_dir + "/rank-" + std::to_string(rank) + ".txt").c_str(), "w")) {
      std::fprintf(file, "%s\n", line.c_str());
      std::fclose(file);
    }
  };
  // 4M elements by default: the link goes down during a round's data transfer, most likely. A
  // tiny model makes the rounds mostly negotiation, so that it goes down there instead.
  std::vector<float> model(argc == 4 ? std::atoll(argv[3]) : int64_t{4} << 20, 1.0f);
  const auto start = std::chrono::steady_clock::now();
  auto last_ok = start;
  for (int round = 0;; ++round) {
    const double since_start =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (since_start > 120) {
      report("rank " + std::to_string(rank) + ": no round failed in 120 s (" +
             std::to_string(round) + " rounds)");
      _exit(1);
    }
    absl::StatusOr<hilo::Handle> handle = (*hilo)->AverageAcrossGroups(
        "model", {{model.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(model.size())}}},
        hilo::AveragingOptions());
    absl::Status status = handle.ok() ? handle->Wait(absl::Seconds(300)) : handle.status();
    const auto now = std::chrono::steady_clock::now();
    if (status.ok()) {
      last_ok = now;
      if (round == 0) {
        std::printf("rank %d: rounds are running\n", rank);
        std::fflush(stdout);
      }
      continue;
    }
    const double seconds = std::chrono::duration<double>(now - last_ok).count();
    char seconds_text[32];
    std::snprintf(seconds_text, sizeof(seconds_text), "%.1f", seconds);
    report("rank " + std::to_string(rank) + ": round failed after " + seconds_text +
           " s: " + status.ToString());
    const bool names_host = status.ToString().find("(host node") != std::string::npos;
    _exit(seconds <= allowed_seconds && names_host ? 3 : 1);
  }
}
