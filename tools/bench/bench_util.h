// Helpers shared by hilo's MPI benchmarks: sizes with K/M suffixes, timing a collective step from
// a barrier to the slowest rank's finish, medians, resident memory.
// Call from the benchmark's main thread after MPI_Init_thread.
#ifndef HILO_TOOLS_BENCH_BENCH_UTIL_H_
#define HILO_TOOLS_BENCH_BENCH_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hilo::bench {

// "4K" -> 4096, "25M" -> 26214400, "100" -> 100; -1 for anything else.
int64_t ParseSize(const std::string& text);

// Comma-separated ParseSize; empty with a message on stderr if any entry is bad.
std::vector<int64_t> ParseSizes(const std::string& text);

// The slowest rank's time for each of `rounds` calls of `round`, after `warmup` untimed ones.
// Collective over MPI_COMM_WORLD.
std::vector<double> RoundSeconds(const std::function<void()>& round, int warmup, int rounds);

double Median(std::vector<double> values);

// This process's resident set size, in bytes (/proc/self/statm).
int64_t ResidentBytes();

// CPU time used by this process so far, all threads, in seconds.
double ProcessCpuSeconds();

}  // namespace hilo::bench

#endif  // HILO_TOOLS_BENCH_BENCH_UTIL_H_
