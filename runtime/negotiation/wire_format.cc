#include "runtime/negotiation/wire_format.h"

namespace hilo {

// The wire enums mirror the C++ enums value for value (checked by wire_format_test), so the
// conversions are casts; they live here so that no other file depends on that coincidence.
proto::DataType ToProto(DataType dtype) { return static_cast<proto::DataType>(dtype); }
DataType FromProto(proto::DataType dtype) { return static_cast<DataType>(dtype); }
proto::CollectiveType ToProto(CollectiveType type) {
  return static_cast<proto::CollectiveType>(type);
}
CollectiveType FromProto(proto::CollectiveType type) { return static_cast<CollectiveType>(type); }
proto::ReduceOp ToProto(ReduceOp op) { return static_cast<proto::ReduceOp>(op); }
ReduceOp FromProto(proto::ReduceOp op) { return static_cast<ReduceOp>(op); }
proto::AveragingAlgorithm ToProto(AveragingAlgorithm algorithm) {
  return static_cast<proto::AveragingAlgorithm>(algorithm);
}
AveragingAlgorithm FromProto(proto::AveragingAlgorithm algorithm) {
  return static_cast<AveragingAlgorithm>(algorithm);
}

proto::Request ToProtoRequest(const TensorRequest& request) {
  proto::Request wire;
  wire.set_tensor_name(request.name);
  wire.set_collective(ToProto(request.collective));
  wire.set_reduce_op(ToProto(request.reduce_op));
  wire.set_dtype(ToProto(request.dtype));
  for (int64_t dim : request.shape) wire.add_shape(dim);
  wire.set_root_rank(request.root_rank);
  for (int64_t rows : request.splits) wire.add_splits(rows);
  for (const ParameterTensor& parameter : request.parameters) {
    proto::ParameterSpec* spec = wire.add_parameters();
    spec->set_dtype(ToProto(parameter.dtype));
    spec->set_count(parameter.count);
  }
  wire.set_algorithm(ToProto(request.algorithm));
  wire.set_check_group_consistency(request.check_group_consistency);
  wire.set_device_memory(request.device >= 0);
  return wire;
}

}  // namespace hilo
