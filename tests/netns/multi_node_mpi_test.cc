// hilo across emulated nodes (tools/netns/emulated_nodes.sh): with the default group size a group
// is a node, so group collectives stay inside a namespace and averaging rounds cross the link.
//   multi_node_mpi_test EXPECTED_NODES [HILO_STATUS]
// Checks the topology against the hostnames, results of group, world and averaging collectives,
// and the bytes per communicator; prints the time of a sharded and a baseline round. With
// HILO_STATUS (and HILO_STATUS_PORT set), one rank per node queries its node's status endpoint
// with that program, while the job runs, and checks what it reports.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "client/hilo_cpp.h"
#include "tests/mpi/rank_checks.h"

namespace {

// Every member's hostname on `kind`, in communicator rank order.
std::vector<std::string> Hostnames(hilo::Context& hilo, hilo::CommunicatorKind kind) {
  char mine[64] = {0};
  gethostname(mine, sizeof(mine) - 1);
  hilo::CollectiveOptions options;
  options.communicator = kind;
  absl::StatusOr<hilo::Handle> handle =
      hilo.Allgather("hostnames", {mine, hilo::DataType::kInt64, {1, 8}}, options);
  std::vector<std::string> names;
  if (!handle.ok() || !handle->Wait(absl::Seconds(120)).ok()) return names;
  for (size_t offset = 0; offset < handle->output().size(); offset += 64) {
    names.emplace_back(handle->output().data() + offset);
  }
  return names;
}

// Runs `hilo-status --port PORT --json` here (this node's endpoint) and returns its output.
std::string QueryStatus(const std::string& hilo_status, const char* port) {
  const std::string command = hilo_status + " --json --timeout_s 30 --port " + port;
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  for (size_t got; (got = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) output.append(buffer, got);
  const int status = pclose(pipe);
  return status == 0 ? output : "";
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

double RoundSeconds(hilo::Context& hilo, std::vector<float>& model,
                    hilo::AveragingAlgorithm algorithm) {
  hilo::AveragingOptions options;
  options.algorithm = algorithm;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<hilo::Handle> handle = hilo.AverageAcrossGroups(
      "timed", {{model.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(model.size())}}},
      options);
  if (!handle.ok() || !handle->Wait(absl::Seconds(300)).ok()) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  hilo::testing::RankChecks checks;
  const int expected_nodes = argc > 1 ? std::atoi(argv[1]) : 0;
  absl::StatusOr<std::unique_ptr<hilo::Context>> started = hilo::Context::Init();
  if (!started.ok()) {
    std::fprintf(stderr, "init: %s\n", started.status().ToString().c_str());
    return 1;
  }
  hilo::Context& hilo = **started;
  const hilo::Topology t = *hilo.topology();
  const int rank = t.world_rank;
  checks.set_rank(rank);

  checks.Check(t.num_groups == expected_nodes,
               "one group per node: " + std::to_string(t.num_groups) + " groups");
  checks.Check(t.group_size == t.local_size, "group size = ranks per node");
  const std::vector<std::string> group_hosts = Hostnames(hilo, hilo::CommunicatorKind::kGroup);
  const std::vector<std::string> cross_hosts = Hostnames(hilo, hilo::CommunicatorKind::kCross);
  for (const std::string& host : group_hosts)
    checks.Check(host == group_hosts[0], "a group is one host");
  for (size_t i = 1; i < cross_hosts.size(); ++i) {
    checks.Check(cross_hosts[i] != cross_hosts[0], "a cross set spans different hosts");
  }

  // Group and world allreduces.
  std::vector<double> in_group(1000, t.world_rank), in_world(1000, t.world_rank);
  hilo::CollectiveOptions group_average;
  group_average.communicator = hilo::CommunicatorKind::kGroup;
  group_average.reduce_op = hilo::ReduceOp::kAverage;
  absl::StatusOr<hilo::Handle> g =
      hilo.Allreduce("g", {in_group.data(), hilo::DataType::kFloat64, {1000}}, group_average);
  absl::StatusOr<hilo::Handle> w =
      hilo.Allreduce("w", {in_world.data(), hilo::DataType::kFloat64, {1000}});
  checks.Check(
      g.ok() && g->Wait(absl::Seconds(120)).ok() && w.ok() && w->Wait(absl::Seconds(120)).ok(),
      "allreduces complete");
  checks.Check(in_group[999] == t.group * t.group_size + (t.group_size - 1) / 2.0, "group average");
  checks.Check(in_world[0] == t.world_size * (t.world_size - 1) / 2.0, "world sum");

  // An averaging round across the link: the result, and the bytes each communicator carried.
  const int64_t n = 4 << 20;
  std::vector<float> model(n, static_cast<float>(t.group));
  const int64_t cross_before = hilo.TransportCounters(hilo::CommunicatorKind::kCross)->bytes;
  const double sharded_s = RoundSeconds(hilo, model, hilo::AveragingAlgorithm::kSharded);
  const int64_t cross_bytes =
      hilo.TransportCounters(hilo::CommunicatorKind::kCross)->bytes - cross_before;
  checks.Check(sharded_s > 0, "sharded round completes");
  checks.Check(model[0] == (t.num_groups - 1) / 2.0f && model[n - 1] == model[0], "averaged model");
  // The shard, and the metric's two partial sums (16 bytes).
  checks.Check(cross_bytes == (n / t.group_size + (t.group_rank < n % t.group_size)) * 4 + 16,
               "cross bytes = N/G * 4 + 16, got " + std::to_string(cross_bytes));
  const double baseline_s = RoundSeconds(hilo, model, hilo::AveragingAlgorithm::kWorldAllreduce);
  checks.Check(baseline_s > 0, "baseline round completes");

  // The status endpoint of every node, from another process on that node, while the job runs:
  // the node's local rank 0 serves it, so one other rank per node asks.
  const char* port = std::getenv("HILO_STATUS_PORT");
  if (argc > 2 && port != nullptr && t.local_rank == t.local_size - 1) {
    const std::string reply = QueryStatus(argv[2], port);
    char host[64] = {0};
    gethostname(host, sizeof(host) - 1);
    checks.Check(Contains(reply, std::string("\"hostname\":\"") + host + "\""),
                 "the endpoint here is this node's: " + reply);
    checks.Check(Contains(reply, "\"local_rank\":0,"), "served by local rank 0: " + reply);
    checks.Check(Contains(reply, "\"world_size\":" + std::to_string(t.world_size) + ","),
                 "world size in the status: " + reply);
    checks.Check(Contains(reply, "\"name\":\"group " + std::to_string(t.group) + "\""),
                 "this node's group in the status: " + reply);
    checks.Check(Contains(reply, "\"rounds\":\"2\""), "two averaging rounds: " + reply);
    if (checks.ok()) std::printf("rank %d on %s: status endpoint OK\n", rank, host);
  }
  // Nobody leaves (taking an endpoint down) before every node has been asked.
  std::vector<float> done(1, 1.0f);
  absl::StatusOr<hilo::Handle> barrier =
      hilo.Allreduce("done", {done.data(), hilo::DataType::kFloat32, {1}});
  checks.Check(barrier.ok() && barrier->Wait(absl::Seconds(120)).ok(), "final allreduce");
  if (rank == 0) {
    std::printf(
        "%d nodes x %d ranks: averaging round of %lld float32: sharded %.1f ms, "
        "world-allreduce %.1f ms (%.2fx); cross bytes per rank %lld; %s\n",
        t.num_groups, t.group_size, static_cast<long long>(n), sharded_s * 1e3, baseline_s * 1e3,
        baseline_s / sharded_s, static_cast<long long>(cross_bytes), checks.ok() ? "OK" : "FAILED");
  }
  const absl::Status shutdown = hilo.Shutdown();
  return checks.ok() && shutdown.ok() ? 0 : 1;
}
