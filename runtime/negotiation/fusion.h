// Tensor fusion: many small allreduces become one transport call.
//
// PlanFusion runs on a communicator's coordinator, over the responses of one cycle: allreduce
// responses with the same dtype and reduce op are merged, in order, into responses whose tensors
// together fit in `threshold_bytes`; a tensor that alone exceeds the threshold keeps a response of
// its own; everything else keeps its place. Every rank then executes the merged responses
// identically (the data plane packs the tensors into its fusion workspace, one allreduce runs,
// the results are unpacked: runtime/execution/collectives.h). Pure function.
#ifndef HILO_RUNTIME_NEGOTIATION_FUSION_H_
#define HILO_RUNTIME_NEGOTIATION_FUSION_H_

#include <cstdint>
#include <vector>

#include "proto/negotiation.pb.h"

namespace hilo {

// `threshold_bytes` 0 disables fusion (the responses are returned unchanged).
std::vector<proto::Response> PlanFusion(std::vector<proto::Response> responses,
                                        int64_t threshold_bytes);

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_FUSION_H_
