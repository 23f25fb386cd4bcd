// The gRPC status endpoint (proto/status.proto): a read-only HiloStatus service over whatever a
// StatusSource reports. The runtime starts one on each node's local rank 0 when HILO_STATUS_PORT
// is set; hilo-status and any gRPC client (Python's grpcio included) can query it.
//
// Requests run on gRPC's threads and only call StatusSource::Snapshot(), which must be
// thread-safe. A malformed request gets INVALID_ARGUMENT; nothing a client sends can reach the
// runtime's state except as a read.
#ifndef HILO_RUNTIME_STATUS_STATUS_SERVER_H_
#define HILO_RUNTIME_STATUS_STATUS_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "proto/status.grpc.pb.h"

namespace hilo {

class StatusSource {
 public:
  virtual ~StatusSource() = default;
  // The current status. Called from gRPC threads at any time while the server runs.
  virtual status::StatusReply Snapshot() const = 0;
};

class StatusServer {
 public:
  // Listens on address:port (port 0: any free port, see port()). `source` must outlive the
  // server. UNAVAILABLE if the address cannot be bound (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<StatusServer>> Start(const std::string& address, int port,
                                                             const StatusSource* source);
  // Ends open WatchStatus streams and stops serving.
  ~StatusServer();

  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const { return port_; }

 private:
  class Service;
  StatusServer() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_STATUS_STATUS_SERVER_H_
