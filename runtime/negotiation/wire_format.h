// Conversions between hilo's C++ enums and the wire enums of proto/negotiation.proto, in one
// place. Pure functions.
#ifndef HILO_RUNTIME_NEGOTIATION_WIRE_FORMAT_H_
#define HILO_RUNTIME_NEGOTIATION_WIRE_FORMAT_H_

#include "kernels/dtype.h"
#include "proto/negotiation.pb.h"
#include "runtime/operation.h"

namespace hilo {

proto::DataType ToProto(DataType dtype);
DataType FromProto(proto::DataType dtype);
proto::CollectiveType ToProto(CollectiveType type);
CollectiveType FromProto(proto::CollectiveType type);
proto::ReduceOp ToProto(ReduceOp op);
ReduceOp FromProto(proto::ReduceOp op);
proto::AveragingAlgorithm ToProto(AveragingAlgorithm algorithm);
AveragingAlgorithm FromProto(proto::AveragingAlgorithm algorithm);

// The request a rank reports for `request` (without its ranks filled in).
proto::Request ToProtoRequest(const TensorRequest& request);

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_WIRE_FORMAT_H_
