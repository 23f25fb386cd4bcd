#include "runtime/controller.h"

#include "absl/strings/str_cat.h"
#include "runtime/common/status_macros.h"
#include "runtime/fusion.h"

namespace hilo {

Controller::Controller(transport::ControlChannel* channel, std::string communicator_name,
                       int world_rank, int64_t fusion_threshold_bytes)
    : channel_(channel),
      communicator_name_(std::move(communicator_name)),
      world_rank_(world_rank),
      fusion_threshold_bytes_(fusion_threshold_bytes),
      table_(channel->size(), communicator_name_) {}

absl::StatusOr<proto::ResponseList> Controller::Negotiate(std::vector<proto::Request> new_requests,
                                                          bool request_shutdown) {
  proto::RequestList mine;
  for (proto::Request& request : new_requests) *mine.add_requests() = std::move(request);
  mine.set_shutdown(request_shutdown);
  mine.set_world_rank(world_rank_);
  std::string serialized;
  if (!mine.SerializeToString(&serialized)) {
    return absl::InternalError("could not serialize a RequestList");
  }
  HILO_ASSIGN_OR_RETURN(std::vector<std::string> gathered, channel_->GatherToRoot(serialized));

  std::string reply;
  if (is_coordinator()) {
    proto::ResponseList responses;
    for (size_t rank = 0; rank < gathered.size(); ++rank) {
      proto::RequestList list;
      if (!list.ParseFromString(gathered[rank])) {
        return absl::InternalError(absl::StrCat("coordinator of ", communicator_name_,
                                                " could not parse the RequestList of rank ", rank));
      }
      if (list.shutdown() && !responses.shutdown()) {
        responses.set_shutdown(true);
        responses.set_shutdown_requested_by(list.world_rank());
      }
      for (proto::Request& request : *list.mutable_requests()) {
        request.set_communicator_rank(static_cast<int>(rank));
        HILO_RETURN_IF_ERROR(table_.Add(std::move(request)));
      }
    }
    for (proto::Response& response : PlanFusion(table_.TakeReady(), fusion_threshold_bytes_)) {
      *responses.add_responses() = std::move(response);
    }
    if (!responses.SerializeToString(&reply)) {
      return absl::InternalError("could not serialize a ResponseList");
    }
  }
  HILO_RETURN_IF_ERROR(channel_->BroadcastFromRoot(&reply));
  proto::ResponseList result;
  if (!result.ParseFromString(reply)) {
    return absl::InternalError(
        absl::StrCat("could not parse the ResponseList broadcast on ", communicator_name_));
  }
  return result;
}

}  // namespace hilo
