// hilo's allreduce against raw MPI, side by side in one MPI job (issue 4's benchmark):
//   (a) one tensor of 4 KiB .. 64 MiB: raw MPI_Allreduce and hilo's allreduce, algbw and busbw in
//       nccl-tests conventions (algbw = bytes / time, busbw = algbw * 2(n-1)/n) and hilo/raw;
//   (b) a step of 100 tensors of 16 KiB: raw MPI one call per tensor, raw MPI one call for all
//       of them packed by hand (the packing included), and hilo (fusion packs them);
//   (c) the latency of a repeated step (the same names, dtypes and shapes every step);
//   and the resident memory of --memory_steps steps of (b) through hilo.
// Raw and hilo measurements alternate in --blocks blocks, hilo started and stopped for each, so
// raw MPI has the machine to itself and drift favours neither. Times: median over the rounds of
// the slowest rank, from a barrier. Each ratio is also taken per block (the block's medians,
// hilo and its reference measured minutes apart at most) and given as median [min-max] over
// the blocks. Table on stdout, one "JSON {...}" line per row for scripts.
//   mpirun -np 4 bazel-bin/tools/bench/allreduce_bench
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/hilo_cpp.h"
#include "tools/bench/bench_util.h"

ABSL_FLAG(std::string, sizes, "4K,16K,64K,256K,1M,4M,16M,64M", "message sizes in bytes (float32)");
ABSL_FLAG(int, rounds, 12, "timed rounds per measurement, in all");
ABSL_FLAG(int, warmup, 2, "untimed rounds before each block");
ABSL_FLAG(int, blocks, 2, "alternating blocks of raw MPI and hilo");
ABSL_FLAG(int, step_tensors, 100, "tensors per step in (b) and (c)");
ABSL_FLAG(int64_t, step_tensor_bytes, 16 << 10, "bytes per tensor in (b) and (c)");
ABSL_FLAG(int, memory_steps, 10000, "steps of (b) through hilo for the memory measurement (0: skip)");
ABSL_FLAG(double, idle_seconds, 3, "measure the CPU an idle hilo uses over this long (0: skip)");

namespace hilo {
namespace {

void Append(std::vector<double>* all, const std::vector<double>& more) {
  all->insert(all->end(), more.begin(), more.end());
}

// numerator / denominator per block of `per_block` consecutive rounds (each the ratio of the two
// blocks' medians), as "median [min-max]" over the blocks.
std::string BlockRatios(const std::vector<double>& numerator, const std::vector<double>& denominator,
                        int per_block, double* median = nullptr) {
  std::vector<double> ratios;
  for (size_t first = 0; first + per_block <= numerator.size() && first + per_block <= denominator.size();
       first += per_block) {
    const std::vector<double> n(numerator.begin() + first, numerator.begin() + first + per_block);
    const std::vector<double> d(denominator.begin() + first, denominator.begin() + first + per_block);
    ratios.push_back(bench::Median(n) / bench::Median(d));
  }
  if (ratios.empty()) return "-";
  const double mid = bench::Median(ratios);
  if (median != nullptr) *median = mid;
  return absl::StrCat(absl::SixDigits(mid), "x [", absl::SixDigits(*std::min_element(ratios.begin(), ratios.end())),
                      "-", absl::SixDigits(*std::max_element(ratios.begin(), ratios.end())), "]");
}

// One step of (b) through hilo: enqueue every tensor, then wait for all.
void HiloStep(Context& hilo, std::vector<std::vector<float>>& tensors,
              const std::vector<std::string>& names) {
  std::vector<Handle> handles;
  handles.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    absl::StatusOr<Handle> handle = hilo.Allreduce(
        names[i], {tensors[i].data(), DataType::kFloat32, {static_cast<int64_t>(tensors[i].size())}});
    if (!handle.ok()) {
      std::fprintf(stderr, "%s\n", handle.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    handles.push_back(*std::move(handle));
  }
  for (Handle& handle : handles) {
    if (!handle.Wait(absl::Minutes(5)).ok()) MPI_Abort(MPI_COMM_WORLD, 1);
  }
}

}  // namespace
}  // namespace hilo

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<int64_t> sizes = hilo::bench::ParseSizes(absl::GetFlag(FLAGS_sizes));
  if (sizes.empty()) return 2;
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const int blocks = std::max(1, absl::GetFlag(FLAGS_blocks));
  const int per_block = std::max(1, absl::GetFlag(FLAGS_rounds) / blocks);
  const int step_tensors = absl::GetFlag(FLAGS_step_tensors);
  const int64_t step_elements = absl::GetFlag(FLAGS_step_tensor_bytes) / 4;

  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  absl::StatusOr<hilo::RuntimeConfig> config = hilo::ConfigFromEnvironment();
  if (!config.ok()) {
    std::fprintf(stderr, "allreduce_bench: %s\n", config.status().ToString().c_str());
    return 1;
  }

  std::vector<std::vector<double>> raw(sizes.size()), hilo_times(sizes.size());
  std::vector<double> per_tensor, packed, hilo_step, hilo_repeat;
  int64_t step_calls = 0, step_count = 0;  // hilo's transport calls during (c), for the report
  std::vector<std::vector<float>> step(step_tensors, std::vector<float>(step_elements, 1.0f));
  std::vector<std::string> names;
  for (int i = 0; i < step_tensors; ++i) names.push_back(absl::StrCat("layer", i, ".grad"));
  std::vector<float> pack(static_cast<size_t>(step_tensors) * step_elements);

  for (int block = 0; block < blocks; ++block) {
    // Raw MPI, with the machine to itself.
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::vector<float> buffer(sizes[s] / 4, 1.0f);
      hilo::Append(&raw[s], hilo::bench::RoundSeconds([&] {
        MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(buffer.size()), MPI_FLOAT,
                      MPI_SUM, MPI_COMM_WORLD);
      }, warmup, per_block));
    }
    hilo::Append(&per_tensor, hilo::bench::RoundSeconds([&] {
      for (auto& tensor : step) {
        MPI_Allreduce(MPI_IN_PLACE, tensor.data(), static_cast<int>(step_elements), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      }
    }, warmup, per_block));
    hilo::Append(&packed, hilo::bench::RoundSeconds([&] {
      for (int i = 0; i < step_tensors; ++i) std::memcpy(&pack[i * step_elements], step[i].data(), step_elements * 4);
      MPI_Allreduce(MPI_IN_PLACE, pack.data(), static_cast<int>(pack.size()), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      for (int i = 0; i < step_tensors; ++i) std::memcpy(step[i].data(), &pack[i * step_elements], step_elements * 4);
    }, warmup, per_block));

    // hilo.
    absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init(*config);
    if (!hilo.ok()) {
      std::fprintf(stderr, "allreduce_bench: %s\n", hilo.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t s = 0; s < sizes.size(); ++s) {
      std::vector<float> buffer(sizes[s] / 4, 1.0f);
      const std::string name = absl::StrCat("message.", sizes[s]);
      hilo::Append(&hilo_times[s], hilo::bench::RoundSeconds([&] {
        absl::StatusOr<hilo::Handle> handle = (*hilo)->Allreduce(
            name, {buffer.data(), hilo::DataType::kFloat32, {static_cast<int64_t>(buffer.size())}});
        if (!handle.ok() || !handle->Wait(absl::Minutes(5)).ok()) MPI_Abort(MPI_COMM_WORLD, 1);
      }, warmup, per_block));
    }
    // (b): the first steps of a block; (c): the same step repeated once it has been seen.
    hilo::Append(&hilo_step, hilo::bench::RoundSeconds([&] { hilo::HiloStep(**hilo, step, names); }, 0, per_block));
    const int64_t calls_before = (*hilo)->TransportCounters(hilo::CommunicatorKind::kWorld)->calls;
    hilo::Append(&hilo_repeat, hilo::bench::RoundSeconds([&] { hilo::HiloStep(**hilo, step, names); }, warmup, per_block));
    step_calls += (*hilo)->TransportCounters(hilo::CommunicatorKind::kWorld)->calls - calls_before;
    step_count += warmup + per_block;
    if (!(*hilo)->Shutdown().ok()) MPI_Abort(MPI_COMM_WORLD, 1);
  }

  // Memory over many steps of (b).
  const int memory_steps = absl::GetFlag(FLAGS_memory_steps);
  int64_t rss_early = 0, rss_end = 0, rss_peak_growth = 0;
  if (memory_steps > 0) {
    absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init(*config);
    if (!hilo.ok()) MPI_Abort(MPI_COMM_WORLD, 1);
    const int early = std::min(1000, memory_steps);
    for (int i = 0; i < memory_steps; ++i) {
      hilo::HiloStep(**hilo, step, names);
      if (i + 1 == early) rss_early = hilo::bench::ResidentBytes();
      if (i + 1 > early) rss_peak_growth = std::max(rss_peak_growth, hilo::bench::ResidentBytes() - rss_early);
    }
    rss_end = hilo::bench::ResidentBytes();
    if (!(*hilo)->Shutdown().ok()) MPI_Abort(MPI_COMM_WORLD, 1);
  }

  // CPU used by an idle runtime: start hilo, let it settle, and measure this process's CPU time
  // (all threads) while the main thread sleeps.
  const double idle_seconds = absl::GetFlag(FLAGS_idle_seconds);
  double idle_cpu_fraction = -1;
  if (idle_seconds > 0) {
    absl::StatusOr<std::unique_ptr<hilo::Context>> hilo = hilo::Context::Init(*config);
    if (!hilo.ok()) MPI_Abort(MPI_COMM_WORLD, 1);
    absl::SleepFor(absl::Seconds(1));
    const double cpu_start = hilo::bench::ProcessCpuSeconds();
    absl::SleepFor(absl::Seconds(idle_seconds));
    const double mine = (hilo::bench::ProcessCpuSeconds() - cpu_start) / idle_seconds;
    if (!(*hilo)->Shutdown().ok()) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Reduce(&mine, &idle_cpu_fraction, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  }

  if (rank == 0) {
    const double bus = 2.0 * (size - 1) / size;
    std::printf("(a) allreduce of one float32 tensor, %d ranks, median of %d rounds\n", size, per_block * blocks);
    std::printf("%10s %10s %12s %12s %10s %12s %12s %10s   %s\n", "bytes", "raw us", "raw algbw", "raw busbw",
                "hilo us", "hilo algbw", "hilo busbw", "hilo/raw", "hilo/raw per block, median [min-max]");
    for (size_t s = 0; s < sizes.size(); ++s) {
      const double r = hilo::bench::Median(raw[s]), h = hilo::bench::Median(hilo_times[s]);
      const double raw_alg = sizes[s] / r / 1e9, hilo_alg = sizes[s] / h / 1e9;
      const std::string per_block_ratio = hilo::BlockRatios(raw[s], hilo_times[s], per_block);
      std::printf("%10lld %10.1f %9.3f GB/s %9.3f GB/s %10.1f %9.3f GB/s %9.3f GB/s %9.2fx   %s\n",
                  static_cast<long long>(sizes[s]), r * 1e6, raw_alg, raw_alg * bus, h * 1e6, hilo_alg,
                  hilo_alg * bus, r / h, per_block_ratio.c_str());
      std::printf("JSON {\"part\": \"a\", \"ranks\": %d, \"bytes\": %lld, \"raw_us\": %.2f, \"hilo_us\": %.2f, "
                  "\"raw_busbw_gbs\": %.4f, \"hilo_busbw_gbs\": %.4f, \"hilo_over_raw_busbw\": %.3f, "
                  "\"hilo_over_raw_busbw_per_block\": \"%s\"}\n",
                  size, static_cast<long long>(sizes[s]), r * 1e6, h * 1e6, raw_alg * bus, hilo_alg * bus, r / h,
                  per_block_ratio.c_str());
    }
    const double p = hilo::bench::Median(per_tensor), k = hilo::bench::Median(packed),
                 h = hilo::bench::Median(hilo_step), c = hilo::bench::Median(hilo_repeat);
    std::printf("\n(b) a step of %d tensors of %lld bytes, %d ranks (ms)\n", step_tensors,
                static_cast<long long>(step_elements * 4), size);
    std::printf("  raw MPI, one call per tensor   %8.3f\n", p * 1e3);
    std::printf("  raw MPI, one packed call       %8.3f\n", k * 1e3);
    const std::string over_packed = hilo::BlockRatios(hilo_step, packed, per_block);
    const std::string speedup = hilo::BlockRatios(per_tensor, hilo_step, per_block);
    std::printf("  hilo                           %8.3f   (%.2fx the packed call, %.1fx faster than per tensor)\n",
                h * 1e3, h / k, p / h);
    std::printf("  per block, median [min-max]: hilo / packed %s; per tensor / hilo %s\n",
                over_packed.c_str(), speedup.c_str());
    std::printf("(c) the same step repeated       %8.3f   (hilo, every tensor seen before; %.2f "
                "transport calls per step)\n", c * 1e3, static_cast<double>(step_calls) / std::max<int64_t>(1, step_count));
    std::printf("JSON {\"part\": \"b\", \"ranks\": %d, \"tensors\": %d, \"tensor_bytes\": %lld, \"raw_per_tensor_ms\": %.3f, "
                "\"raw_packed_ms\": %.3f, \"hilo_ms\": %.3f, \"hilo_over_packed\": %.3f, \"per_tensor_over_hilo\": %.3f, "
                "\"hilo_repeated_step_ms\": %.3f, \"hilo_over_packed_per_block\": \"%s\", "
                "\"per_tensor_over_hilo_per_block\": \"%s\"}\n",
                size, step_tensors, static_cast<long long>(step_elements * 4), p * 1e3, k * 1e3, h * 1e3, h / k, p / h, c * 1e3,
                over_packed.c_str(), speedup.c_str());
    if (memory_steps > 0) {
      std::printf("memory: resident %.1f MiB after %d steps of (b), %.1f MiB after %d; largest growth %+.1f MiB\n",
                  rss_early / 1048576.0, std::min(1000, memory_steps), rss_end / 1048576.0,
                  memory_steps, rss_peak_growth / 1048576.0);
      std::printf("JSON {\"part\": \"memory\", \"ranks\": %d, \"steps\": %d, \"rss_after_1000_mib\": %.2f, "
                  "\"rss_end_mib\": %.2f, \"peak_growth_mib\": %.2f}\n",
                  size, memory_steps, rss_early / 1048576.0, rss_end / 1048576.0, rss_peak_growth / 1048576.0);
    }
    if (idle_seconds > 0) {
      std::printf("idle: an idle runtime used %.2f%% of a core (the busiest of %d ranks, over %.1f s)\n",
                  idle_cpu_fraction * 100, size, idle_seconds);
      std::printf("JSON {\"part\": \"idle\", \"ranks\": %d, \"max_cpu_percent\": %.3f}\n", size,
                  idle_cpu_fraction * 100);
    }
    std::fflush(stdout);
  }
  MPI_Finalize();
  return 0;
}
