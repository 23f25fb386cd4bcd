#include "runtime/observability/status_snapshot.h"

namespace hilo {
namespace {

void FillTopology(const RuntimeState& state, status::Topology& topology) {
  topology.set_world_rank(state.topology.world_rank);
  topology.set_world_size(state.topology.world_size);
  topology.set_group_size(state.topology.group_size);
  topology.set_num_groups(state.topology.num_groups);
  topology.set_group(state.topology.group);
  topology.set_group_rank(state.topology.group_rank);
  topology.set_local_rank(state.topology.local_rank);
  topology.set_local_size(state.topology.local_size);
  if (!state.hostname.empty()) topology.set_hostname(state.hostname);
}

void FillCommunicators(const RuntimeState& state, status::StatusReply& reply) {
  for (CommunicatorKind kind : kAllCommunicatorKinds) {
    const CommunicatorActivity& activity = state.communicators[static_cast<int>(kind)];
    status::CommunicatorStatus& communicator = *reply.add_communicators();
    communicator.set_name(state.topology.CommunicatorName(kind));
    communicator.set_size(state.topology.CommunicatorSize(kind));
    communicator.set_operations(activity.transport.calls);
    communicator.set_bytes(activity.transport.bytes);
    communicator.set_busy_seconds(static_cast<double>(activity.transport.busy_nanoseconds) * 1e-9);
    communicator.set_cache_hits(activity.cache.hits);
    communicator.set_cache_misses(activity.cache.misses);
    communicator.set_agreements(activity.agreements);
  }
}

}  // namespace

status::StatusReply MakeStatusReply(const RuntimeState& state) {
  status::StatusReply reply;
  FillTopology(state, *reply.mutable_topology());
  for (const auto& [name, value] : ConfigSettings(state.config)) {
    status::Setting& setting = *reply.add_settings();
    setting.set_name(name);
    setting.set_value(value);
  }
  reply.set_uptime_seconds(absl::ToDoubleSeconds(state.uptime));
  reply.set_queue_depth(state.queue_depth);
  reply.set_steps(state.steps);
  FillCommunicators(state, reply);
  status::AveragingStatus& averaging = *reply.mutable_averaging();
  averaging.set_rounds(state.averaging.rounds);
  if (state.averaging.latest.has_value()) {
    averaging.set_latest_discrepancy(state.averaging.latest->discrepancy);
    averaging.set_latest_seconds(absl::ToDoubleSeconds(state.averaging.latest->duration));
    averaging.set_latest_elements(state.averaging.latest->elements);
  }
  for (const StallReport& stall : state.stalls) {
    status::Stall& entry = *reply.add_stalls();
    entry.set_communicator(stall.communicator);
    entry.set_tensor(stall.tensor);
    entry.set_waiting_seconds(absl::ToDoubleSeconds(stall.waiting));
    for (int rank : stall.submitted_by) entry.add_submitted_by(rank);
    for (int rank : stall.missing) entry.add_missing(rank);
  }
  reply.set_running(state.running);
  if (!state.running) {
    reply.set_stopped_reason(state.stopped_with.ok() ? "shut down" : state.stopped_with.ToString());
  }
  return reply;
}

}  // namespace hilo
