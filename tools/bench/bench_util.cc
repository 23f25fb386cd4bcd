#include "tools/bench/bench_util.h"

#include <mpi.h>
#include <unistd.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace hilo::bench {

int64_t ParseSize(const std::string& text) {
  int64_t multiplier = 1;
  std::string digits = text;
  if (!digits.empty() && (digits.back() == 'M' || digits.back() == 'm')) multiplier = 1 << 20;
  if (!digits.empty() && (digits.back() == 'K' || digits.back() == 'k')) multiplier = 1 << 10;
  if (multiplier != 1) digits.pop_back();
  int64_t value = 0;
  if (!absl::SimpleAtoi(digits, &value) || value <= 0) return -1;
  return value * multiplier;
}

std::vector<int64_t> ParseSizes(const std::string& text) {
  std::vector<int64_t> sizes;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    const int64_t size = ParseSize(std::string(part));
    if (size <= 0) {
      std::fprintf(stderr, "bad size '%s' (expected e.g. 4K, 25M or 100)\n", std::string(part).c_str());
      return {};
    }
    sizes.push_back(size);
  }
  return sizes;
}

std::vector<double> RoundSeconds(const std::function<void()>& round, int warmup, int rounds) {
  for (int i = 0; i < warmup; ++i) round();
  std::vector<double> times;
  for (int i = 0; i < rounds; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double start = MPI_Wtime();
    round();
    double mine = MPI_Wtime() - start, slowest = 0;
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    times.push_back(slowest);
  }
  return times;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

double ProcessCpuSeconds() {
  timespec now;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + now.tv_nsec * 1e-9;
}

}  // namespace hilo::bench
