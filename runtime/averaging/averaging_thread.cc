#include "runtime/averaging/averaging_thread.h"

#include <utility>

namespace hilo {

AveragingThread::AveragingThread(transport::Communicator* group, transport::Communicator* cross)
    : group_(group),
      kernels_(kernels::MakeCpuKernelSet()),
      workspace_(kernels::MakeHostWorkspace()),
      group_plane_{group_, *kernels_, *workspace_},
      cross_plane_{*cross, *kernels_, *workspace_},
      thread_([this] { Main(); }) {}

AveragingThread::~AveragingThread() { Stop(); }

void AveragingThread::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void AveragingThread::Submit(std::function<void()> round) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  queue_.push_back(std::move(round));
}

void AveragingThread::WaitUntilIdle() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &AveragingThread::Idle));
}

void AveragingThread::Main() {
  while (true) {
    std::function<void()> round;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &AveragingThread::HasWorkOrStopping));
      if (queue_.empty()) return;  // stopping, and nothing left to run
      round = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
    }
    round();
    absl::MutexLock lock(&mu_);
    running_ = false;
  }
}

}  // namespace hilo
