#include "runtime/negotiation/readiness_table.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/dtype.h"
#include "runtime/common/rank_values.h"
#include "runtime/operation.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

std::string RequestShape(const proto::Request& request) {
  return ShapeToString(std::vector<int64_t>(request.shape().begin(), request.shape().end()));
}

// Groups the ranks by the value `describe` gives their request. Returns "" when all agree,
// otherwise e.g. "[4] on ranks 0, 2, 3; [3] on rank 1" (world ranks).
std::string DescribeDisagreement(const std::vector<proto::Request>& requests,
                                 const std::function<std::string(const proto::Request&)>& describe) {
  std::vector<std::pair<std::string, int>> value_by_rank;
  for (const proto::Request& request : requests) {
    value_by_rank.emplace_back(describe(request), request.world_rank());
  }
  return DescribeRanksByValue(value_by_rank);
}

// "3 tensors, 1325 elements: float32[3], float64[1000], float32[322]" (at most 6 listed).
std::string DescribeParameters(const proto::Request& request) {
  int64_t total = 0;
  std::vector<std::string> parts;
  for (const proto::ParameterSpec& spec : request.parameters()) {
    total += spec.count();
    if (parts.size() < 6) {
      parts.push_back(absl::StrCat(DataTypeName(FromProto(spec.dtype())), "[", spec.count(), "]"));
    }
  }
  if (request.parameters_size() > 6) parts.push_back("...");
  return absl::StrCat(request.parameters_size(), " tensors, ", total, " elements: ",
                      absl::StrJoin(parts, ", "));
}

// True when `other` asks for exactly what `first` asks for (the fields BuildResponse checks).
// The common case, decided without building any of the strings an error message needs.
bool SameRequest(const proto::Request& first, const proto::Request& other) {
  if (other.collective() != first.collective() || other.dtype() != first.dtype() ||
      other.device_memory() != first.device_memory()) {
    return false;
  }
  switch (first.collective()) {
    case proto::ALLREDUCE:
    case proto::REDUCESCATTER:
      return other.reduce_op() == first.reduce_op() &&
             std::equal(first.shape().begin(), first.shape().end(), other.shape().begin(),
                        other.shape().end());
    case proto::BROADCAST:
      return other.root_rank() == first.root_rank() &&
             std::equal(first.shape().begin(), first.shape().end(), other.shape().begin(),
                        other.shape().end());
    case proto::ALLGATHER:
    case proto::ALLTOALL:
      return first.shape_size() > 0 && other.shape_size() == first.shape_size() &&
             std::equal(first.shape().begin() + 1, first.shape().end(), other.shape().begin() + 1);
    case proto::AVERAGE_ACROSS_GROUPS:
      if (other.algorithm() != first.algorithm() ||
          other.check_group_consistency() != first.check_group_consistency() ||
          other.parameters_size() != first.parameters_size()) {
        return false;
      }
      for (int i = 0; i < first.parameters_size(); ++i) {
        if (other.parameters(i).dtype() != first.parameters(i).dtype() ||
            other.parameters(i).count() != first.parameters(i).count()) {
          return false;
        }
      }
      return true;
    default:
      return false;
  }
}

// A tensor failed because of ranks that will not submit it (finished or joined): every rank
// that holds it gets FAILED_PRECONDITION with `message`; the others skip it.
proto::Response PeerError(const std::string& name, std::string message) {
  proto::Response response;
  response.add_tensor_names(name);
  response.set_type(proto::Response::ERROR);
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
    const bool allgather = first.collective() == proto::ALLGATHER;
    if ((first.collective() != proto::ALLREDUCE && !allgather) || first.device_memory()) {
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
      if (allgather && response.type() == proto::Response::ALLGATHER) {
        // BuildResponse listed the reporters' first dimensions; the joined ranks send no rows.
        response.clear_first_dims();
        for (int rank = 0; rank < communicator_size_; ++rank) {
          const proto::Request& request = it->second.by_rank[rank];
          response.add_first_dims(it->second.reported[rank] ? request.shape(0) : 0);
        }
        int64_t row_elements = 1;
        for (int d = 1; d < first.shape_size(); ++d) row_elements *= first.shape(d);
        response.set_row_elements(row_elements);
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
      response.set_type(proto::Response::ERROR);
      response.set_error_message(absl::StrCat("tensor '", name, "' on communicator ",
                                              communicator_name_, ": ", what,
                                              " differs across ranks: ", disagreement));
      return response;
    }
  }
  FillAgreedResponse(name, requests, response);
  return response;
}

std::vector<std::pair<std::string, std::string>> ReadinessTable::DescribeDisagreements(
    const std::vector<proto::Request>& requests) {
  const proto::CollectiveType collective = requests[0].collective();
  // Only a disagreement needs the descriptions below. Checked in order of how fundamental the
  // disagreement is; the first one found is reported.
  std::vector<std::pair<std::string, std::string>> checks;
  checks.emplace_back("collective", DescribeDisagreement(requests, [](const proto::Request& r) {
                        return std::string(CollectiveTypeName(FromProto(r.collective())));
                      }));
  checks.emplace_back("dtype", DescribeDisagreement(requests, [](const proto::Request& r) {
                        return std::string(DataTypeName(FromProto(r.dtype())));
                      }));
  checks.emplace_back("memory", DescribeDisagreement(requests, [](const proto::Request& r) {
                        return std::string(r.device_memory() ? "CUDA device memory"
                                                             : "host memory");
                      }));
  if (collective == proto::ALLREDUCE || collective == proto::REDUCESCATTER) {
    checks.emplace_back("reduce op", DescribeDisagreement(requests, [](const proto::Request& r) {
                          return std::string(ReduceOpName(FromProto(r.reduce_op())));
                        }));
  }
  if (collective == proto::ALLGATHER || collective == proto::ALLTOALL) {
    // Only the first dimension may differ; the rest must match.
    checks.emplace_back("shape (beyond the first dimension)",
                        DescribeDisagreement(requests, [](const proto::Request& r) {
                          if (r.shape_size() == 0) return std::string("a scalar");
                          return absl::StrCat("[*, ", absl::StrJoin(r.shape().begin() + 1,
                                                                    r.shape().end(), ", "),
                                              "]");
                        }));
  } else {
    checks.emplace_back("shape", DescribeDisagreement(requests, RequestShape));
  }
  if (collective == proto::BROADCAST) {
    checks.emplace_back("root rank", DescribeDisagreement(requests, [](const proto::Request& r) {
                          return absl::StrCat("root ", r.root_rank());
                        }));
  }
  if (collective == proto::AVERAGE_ACROSS_GROUPS) {
    checks.emplace_back("parameter layout", DescribeDisagreement(requests, DescribeParameters));
    checks.emplace_back("averaging algorithm",
                        DescribeDisagreement(requests, [](const proto::Request& r) {
                          return std::string(AveragingAlgorithmName(FromProto(r.algorithm())));
                        }));
    checks.emplace_back("group consistency check",
                        DescribeDisagreement(requests, [](const proto::Request& r) {
                          return std::string(r.check_group_consistency() ? "on" : "off");
                        }));
  }
  return checks;
}

void ReadinessTable::FillAgreedResponse(const std::string& name,
                                        const std::vector<proto::Request>& requests,
                                        proto::Response& response) const {
  const proto::CollectiveType collective = requests[0].collective();
  response.set_dtype(requests[0].dtype());
  response.set_device_memory(requests[0].device_memory());
  response.set_reduce_op(requests[0].reduce_op());
  response.set_root_rank(requests[0].root_rank());
  switch (collective) {
    case proto::ALLREDUCE: {
      response.set_type(proto::Response::ALLREDUCE);
      int64_t elements = 1;
      for (int64_t dim : requests[0].shape()) elements *= dim;
      response.add_tensor_sizes(elements);
      break;
    }
    case proto::BROADCAST:
      response.set_type(proto::Response::BROADCAST);
      break;
    case proto::REDUCESCATTER:
      response.set_type(proto::Response::REDUCESCATTER);
      break;
    case proto::ALLTOALL:
      response.set_type(proto::Response::ALLTOALL);
      for (const proto::Request& request : requests) {
        if (request.splits_size() != communicator_size_) {
          response.set_type(proto::Response::ERROR);
          response.clear_splits();
          response.set_error_message(absl::StrCat(
              "tensor '", name, "' on communicator ", communicator_name_, ": rank ",
              request.world_rank(), " split its alltoall ", request.splits_size(),
              " ways for ", communicator_size_, " ranks"));
          break;
        }
        response.mutable_splits()->Add(request.splits().begin(), request.splits().end());
      }
      break;
    case proto::ALLGATHER:
      response.set_type(proto::Response::ALLGATHER);
      for (const proto::Request& request : requests) {
        response.add_first_dims(request.shape_size() > 0 ? request.shape(0) : 0);
      }
      break;
    case proto::AVERAGE_ACROSS_GROUPS:
      response.set_type(proto::Response::AVERAGE_ACROSS_GROUPS);
      response.set_algorithm(requests[0].algorithm());
      response.set_check_group_consistency(requests[0].check_group_consistency());
      break;
    default:
      response.set_type(proto::Response::ERROR);
      response.set_error_message(absl::StrCat("tensor '", name, "': unknown collective"));
  }
}

}  // namespace hilo
