// Checks for the MPI test mains that do not use gtest: those that time a whole job's life (a
// stall that stops the job, a rank that finishes early) or run under a launcher of their own
// (tests/netns). Each rank collects its failed checks, prints the first few with its rank, and
// turns them into the process's exit status, which mpirun_test.sh reads.
#ifndef HILO_TESTS_MPI_RANK_CHECKS_H_
#define HILO_TESTS_MPI_RANK_CHECKS_H_

#include <cstdio>
#include <string>

namespace hilo::testing {

class RankChecks {
 public:
  // The rank is known only after hilo has started; until set_rank, messages say rank -1.
  void set_rank(int rank) { rank_ = rank; }
  int rank() const { return rank_; }

  // Records a failure when `ok` is false; prints the first kPrinted of them on stderr.
  void Check(bool ok, const std::string& what) {
    if (ok) return;
    if (++failures_ <= kPrinted) std::fprintf(stderr, "rank %d: FAILED: %s\n", rank_, what.c_str());
  }

  bool ok() const { return failures_ == 0; }

  // The exit status for main: 0 and "rank N: PASS" on stdout when no check failed, else 1 and the
  // number of failures on stderr.
  int ExitStatus() const {
    if (ok()) {
      std::printf("rank %d: PASS\n", rank_);
      return 0;
    }
    std::fprintf(stderr, "rank %d: %d checks failed\n", rank_, failures_);
    return 1;
  }

 private:
  static constexpr int kPrinted = 10;  // a failure repeated every step would flood the log
  int rank_ = -1;
  int failures_ = 0;
};

}  // namespace hilo::testing

#endif  // HILO_TESTS_MPI_RANK_CHECKS_H_
