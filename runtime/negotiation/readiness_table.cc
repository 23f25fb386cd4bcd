#include "runtime/negotiation/readiness_table.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/dtype.h"
#include "runtime/operation.h"
#include "runtime/negotiation/wire_format.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

// True when `other` asks for exactly what `first` asks for: the same collective, dtype and
// memory, and what the collective's op compares.
bool SameRequest(const proto::Request& first, const proto::Request& other) {
  if (other.collective() != first.collective() || other.dtype() != first.dtype() ||
      other.device_memory() != first.device_memory()) {
    return false;
  }
  const CollectiveOp* op = FindOp(first.collective());
  return op != nullptr && op->Agree(first, other);
}

// A tensor failed because of ranks that will not submit it (finished or joined): every rank
// that holds it gets FAILED_PRECONDITION with `message`; the others skip it.
proto::Response PeerError(const std::string& name, std::string message) {
  proto::Response response;
  response.add_tensor_names(name);
  response.set_error(true);
  response.set_peer_finished(true);
  response.set_error_message(std::move(message));
  return response;
}

}  // namespace

ReadinessTable::ReadinessTable(int communicator_size, std::string communicator_name)
    : communicator_size_(communicator_size), communicator_name_(std::move(communicator_name)) {}

absl::Status ReadinessTable::Add(proto::Request request, absl::Time now) {
  const int rank = request.communicator_rank();
  if (rank < 0 || rank >= communicator_size_) {
    return absl::InternalError(absl::StrCat("request for '", request.tensor_name(),
                                            "' from rank ", rank, " of a communicator of ",
                                            communicator_size_));
  }
  Entry& entry = entries_[request.tensor_name()];
  if (entry.by_rank.empty()) {
    entry.by_rank.resize(communicator_size_);
    entry.reported.assign(communicator_size_, false);
    entry.first_reported = now - absl::Microseconds(request.waiting_us());
  }
  if (entry.reported[rank]) {
    return absl::InternalError(absl::StrCat("rank ", rank, " of ", communicator_name_,
                                            " reported '", request.tensor_name(), "' twice"));
  }
  entry.reported[rank] = true;
  const std::string name = request.tensor_name();
  entry.by_rank[rank] = std::move(request);
  if (++entry.reported_count == communicator_size_) ready_.push_back(name);
  return absl::OkStatus();
}

std::vector<ReadinessTable::Stalled> ReadinessTable::StalledSince(absl::Time now,
                                                                  absl::Duration at_least) const {
  std::vector<Stalled> stalled;
  for (const auto& [name, entry] : entries_) {
    if (entry.reported_count == communicator_size_ || now - entry.first_reported < at_least) {
      continue;
    }
    Stalled tensor{name, now - entry.first_reported, {}, {}};
    for (int rank = 0; rank < communicator_size_; ++rank) {
      if (entry.reported[rank]) {
        tensor.reported_world_ranks.push_back(entry.by_rank[rank].world_rank());
      } else {
        tensor.missing_communicator_ranks.push_back(rank);
      }
    }
    std::sort(tensor.reported_world_ranks.begin(), tensor.reported_world_ranks.end());
    stalled.push_back(std::move(tensor));
  }
  std::sort(stalled.begin(), stalled.end(), [](const Stalled& a, const Stalled& b) {
    return a.waiting != b.waiting ? a.waiting > b.waiting : a.name < b.name;
  });
  return stalled;
}

std::vector<proto::Response> ReadinessTable::TakeReady() {
  std::vector<proto::Response> responses;
  responses.reserve(ready_.size());
  for (const std::string& name : ready_) {
    auto it = entries_.find(name);
    responses.push_back(BuildResponse(name, it->second.by_rank));
    entries_.erase(it);
  }
  ready_.clear();
  return responses;
}

std::vector<std::string> ReadinessTable::PendingWhereMissing(
    const std::function<bool(const std::vector<int>&)>& pick) const {
  std::vector<std::string> names;
  std::vector<int> missing;
  for (const auto& [name, entry] : entries_) {
    if (entry.reported_count == communicator_size_) continue;  // ready: TakeReady's
    missing.clear();
    for (int rank = 0; rank < communicator_size_; ++rank) {
      if (!entry.reported[rank]) missing.push_back(rank);
    }
    if (pick(missing)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());  // one order, whatever the hash map's
  return names;
}

std::vector<proto::Response> ReadinessTable::TakeUnsatisfiable(
    const std::vector<int>& finished_world_ranks) {
  std::vector<proto::Response> responses;
  if (std::none_of(finished_world_ranks.begin(), finished_world_ranks.end(),
                   [](int world_rank) { return world_rank >= 0; })) {
    return responses;
  }
  const auto finished = [&](int rank) {
    return rank < static_cast<int>(finished_world_ranks.size()) && finished_world_ranks[rank] >= 0;
  };
  for (const std::string& name : PendingWhereMissing([&](const std::vector<int>& missing) {
         return std::any_of(missing.begin(), missing.end(), finished);
       })) {
    auto it = entries_.find(name);
    const Entry& entry = it->second;
    std::vector<int> finished_without;
    std::vector<int> submitted_by;
    for (int rank = 0; rank < communicator_size_; ++rank) {
      if (entry.reported[rank]) {
        submitted_by.push_back(entry.by_rank[rank].world_rank());
      } else if (finished(rank)) {
        finished_without.push_back(finished_world_ranks[rank]);
      }
    }
    std::sort(submitted_by.begin(), submitted_by.end());
    std::sort(finished_without.begin(), finished_without.end());
    responses.push_back(PeerError(name, absl::StrCat(
        "tensor '", name, "' on communicator ", communicator_name_, " can never complete: rank",
        finished_without.size() == 1 ? " " : "s ", absl::StrJoin(finished_without, ", "),
        finished_without.size() == 1 ? " has" : " have",
        " finished (shut down) without submitting it; submitted by rank",
        submitted_by.size() == 1 ? " " : "s ", absl::StrJoin(submitted_by, ", "),
        ". Every rank must run the same collectives: the usual cause is an uneven number of "
        "batches or steps per rank")));
    entries_.erase(it);
  }
  return responses;
}

std::vector<proto::Response> ReadinessTable::TakeReadyWithJoined(const std::vector<bool>& joined) {
  std::vector<proto::Response> responses;
  if (std::none_of(joined.begin(), joined.end(), [](bool j) { return j; })) return responses;
  const auto has_joined = [&](int rank) {
    return rank < static_cast<int>(joined.size()) && joined[rank];
  };
  for (const std::string& name : PendingWhereMissing([&](const std::vector<int>& missing) {
         return std::all_of(missing.begin(), missing.end(), has_joined);
       })) {
    auto it = entries_.find(name);
    std::vector<proto::Request> reporters;
    for (int rank = 0; rank < communicator_size_; ++rank) {
      if (it->second.reported[rank]) reporters.push_back(it->second.by_rank[rank]);
    }
    const proto::Request& first = reporters.front();
    const CollectiveOp* op = FindOp(first.collective());
    if (op == nullptr || !op->runs_while_joined() || first.device_memory()) {
      responses.push_back(PeerError(name, absl::StrCat(
          "tensor '", name, "' on communicator ", communicator_name_, ": ",
          !first.device_memory()
              ? absl::StrCat(CollectiveTypeName(FromProto(first.collective())),
                             " cannot run while ranks have joined (hvd.join): only allreduces "
                             "(with zeros from the joined ranks) and allgathers (with no rows "
                             "from them) continue")
              : std::string("a CUDA tensor's collective cannot run while ranks have joined "
                            "(hvd.join): join supports host tensors"))));
    } else {
      proto::Response response = BuildResponse(name, reporters);
      if (!response.error()) {
        std::vector<const proto::Request*> by_rank(communicator_size_, nullptr);
        for (int rank = 0; rank < communicator_size_; ++rank) {
          if (it->second.reported[rank]) by_rank[rank] = &it->second.by_rank[rank];
        }
        op->AdmitJoined(by_rank, response);
      }
      responses.push_back(std::move(response));
    }
    entries_.erase(it);
  }
  return responses;
}

proto::Response ReadinessTable::BuildResponse(const std::string& name,
                                              const std::vector<proto::Request>& requests) const {
  proto::Response response;
  response.add_tensor_names(name);
  bool agree = true;
  for (size_t r = 1; r < requests.size() && agree; ++r) agree = SameRequest(requests[0], requests[r]);
  if (!agree) {
    for (const auto& [what, disagreement] : DescribeDisagreements(requests)) {
      if (disagreement.empty()) continue;
      response.set_collective(requests[0].collective());
      response.set_error(true);
      response.set_error_message(absl::StrCat("tensor '", name, "' on communicator ",
                                              communicator_name_, ": ", what,
                                              " differs across ranks: ", disagreement));
      return response;
    }
  }
  FillAgreedResponse(name, requests, response);
  return response;
}

Differences ReadinessTable::DescribeDisagreements(const std::vector<proto::Request>& requests) {
  // Only a disagreement needs the descriptions below. Checked in order of how fundamental the
  // disagreement is; the first one found is reported.
  Differences differences;
  differences.emplace_back("collective", DescribeByRank(requests, [](const proto::Request& r) {
                             return std::string(CollectiveTypeName(FromProto(r.collective())));
                           }));
  differences.emplace_back("dtype", DescribeByRank(requests, [](const proto::Request& r) {
                             return std::string(DataTypeName(FromProto(r.dtype())));
                           }));
  differences.emplace_back("memory", DescribeByRank(requests, [](const proto::Request& r) {
                             return std::string(r.device_memory() ? "CUDA device memory"
                                                                  : "host memory");
                           }));
  if (const CollectiveOp* op = FindOp(requests[0].collective())) {
    op->DescribeDifferences(requests, differences);
  }
  return differences;
}

void ReadinessTable::FillAgreedResponse(const std::string& name,
                                        const std::vector<proto::Request>& requests,
                                        proto::Response& response) const {
  const proto::Request& first = requests[0];
  response.set_collective(first.collective());
  response.set_dtype(first.dtype());
  response.set_device_memory(first.device_memory());
  response.set_reduce_op(first.reduce_op());
  response.set_root_rank(first.root_rank());
  const CollectiveOp* op = FindOp(first.collective());
  const absl::Status filled =
      op != nullptr ? op->FillResponse(requests, communicator_size_, response)
                    : absl::InvalidArgumentError(
                          absl::StrCat("unknown collective ", static_cast<int>(first.collective())));
  if (!filled.ok()) {
    response.set_error(true);
    response.set_error_message(absl::StrCat("tensor '", name, "' on communicator ",
                                            communicator_name_, ": ", filled.message()));
  }
}

}  // namespace hilo
