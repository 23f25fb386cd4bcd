#include "runtime/wire_format.h"

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

proto::Request ToProtoRequest(const TensorRequest& request) {
  proto::Request wire;
  wire.set_tensor_name(request.name);
  wire.set_collective(ToProto(request.collective));
  wire.set_reduce_op(ToProto(request.reduce_op));
  wire.set_dtype(ToProto(request.dtype));
  for (int64_t dim : request.shape) wire.add_shape(dim);
  wire.set_root_rank(request.root_rank);
  return wire;
}

}  // namespace hilo
