#include "runtime/negotiation/fusion.h"

#include <map>
#include <tuple>
#include <utility>

#include "kernels/dtype.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

int64_t ResponseBytes(const proto::Response& response) {
  int64_t elements = 0;
  for (int64_t size : response.tensor_sizes()) elements += size;
  return elements * static_cast<int64_t>(DataTypeSize(FromProto(response.dtype())));
}

bool Fusable(const proto::Response& response) {
  return !response.error() && response.collective() == proto::ALLREDUCE &&
         response.tensor_sizes_size() == response.tensor_names_size();
}

}  // namespace

std::vector<proto::Response> PlanFusion(std::vector<proto::Response> responses,
                                        int64_t threshold_bytes) {
  if (threshold_bytes <= 0) return responses;
  std::vector<proto::Response> planned;
  planned.reserve(responses.size());
  // Per (dtype, reduce op, memory): the response in `planned` still accepting tensors, and its
  // bytes. Host and device tensors never share a buffer.
  std::map<std::tuple<int, int, bool>, std::pair<size_t, int64_t>> open;
  for (proto::Response& response : responses) {
    if (!Fusable(response)) {
      planned.push_back(std::move(response));
      continue;
    }
    const int64_t bytes = ResponseBytes(response);
    const std::tuple<int, int, bool> key = {response.dtype(), response.reduce_op(),
                                            response.device_memory()};
    auto it = open.find(key);
    if (it != open.end() && it->second.second + bytes <= threshold_bytes) {
      proto::Response& target = planned[it->second.first];
      for (int i = 0; i < response.tensor_names_size(); ++i) {
        target.add_tensor_names(response.tensor_names(i));
        target.add_tensor_sizes(response.tensor_sizes(i));
      }
      it->second.second += bytes;
      continue;
    }
    planned.push_back(std::move(response));
    // A tensor at or above the threshold stays alone (and leaves the open response open); a
    // smaller one that did not fit opens a new fused response.
    if (bytes < threshold_bytes) open[key] = {planned.size() - 1, bytes};
  }
  return planned;
}

}  // namespace hilo
