#include "runtime/transport/local/local_session.h"

#include <algorithm>
#include <tuple>

namespace hilo::transport {
namespace {

class LocalSession final : public Session {
 public:
  LocalSession(LocalJobSessions* job, int rank) : job_(job), rank_(rank) {}

  int world_rank() const override { return rank_; }
  int world_size() const override { return job_->world_size(); }
  int local_rank() const override { return rank_ % job_->ranks_per_node(); }
  int local_size() const override { return job_->ranks_per_node(); }
  // Its communicators are threads meeting in memory: any thread may use them.
  bool thread_multiple() const override { return true; }

  absl::StatusOr<std::unique_ptr<RankCommunicator>> World(const std::string& name) override {
    return Split(0, rank_, name);
  }
  absl::StatusOr<std::unique_ptr<RankCommunicator>> Split(int color, int key,
                                                          const std::string& name) override {
    return std::unique_ptr<RankCommunicator>(job_->Split(rank_, splits_++, color, key, name));
  }

 private:
  LocalJobSessions* const job_;
  const int rank_;
  int64_t splits_ = 0;
};

}  // namespace

LocalJobSessions::LocalJobSessions(int world_size, int ranks_per_node)
    : world_size_(world_size), ranks_per_node_(ranks_per_node) {}

std::unique_ptr<Session> LocalJobSessions::SessionFor(int rank) {
  return std::make_unique<LocalSession>(this, rank);
}

std::unique_ptr<LocalCommunicator> LocalJobSessions::Split(int rank, int64_t sequence, int color,
                                                           int key, const std::string& name) {
  absl::MutexLock lock(&mu_);
  SplitRound& round = rounds_[sequence];
  if (round.arrivals.empty()) round.arrivals.resize(world_size_);
  round.arrivals[rank] = {color, key};
  if (++round.arrived == world_size_) Make(round, name);
  mu_.Await(absl::Condition(
      +[](SplitRound* r) { return !r->made.empty(); }, &round));
  std::unique_ptr<LocalCommunicator> mine = std::move(round.made[rank]);
  if (++round.taken == world_size_) rounds_.erase(sequence);
  return mine;
}

void LocalJobSessions::Make(SplitRound& round, const std::string& name) {
  // Members of each color, ordered by (key, rank) as MPI_Comm_split orders them.
  std::map<int, std::vector<std::tuple<int, int>>> members;
  for (int rank = 0; rank < world_size_; ++rank) {
    members[round.arrivals[rank].first].emplace_back(round.arrivals[rank].second, rank);
  }
  round.made.resize(world_size_);
  for (auto& [color, ranks] : members) {
    std::sort(ranks.begin(), ranks.end());
    std::vector<std::unique_ptr<LocalCommunicator>> communicators =
        LocalCommunicator::CreateGroup(static_cast<int>(ranks.size()), name);
    for (size_t member = 0; member < ranks.size(); ++member) {
      round.made[std::get<1>(ranks[member])] = std::move(communicators[member]);
    }
  }
}

}  // namespace hilo::transport
