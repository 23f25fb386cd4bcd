#include "runtime/status/status_server.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace hilo {

class StatusServer::Service final : public status::HiloStatus::Service {
 public:
  explicit Service(const StatusSource* source) : source_(source) {}

  // Wakes every WatchStatus stream so that the server can shut down without waiting for them.
  void Stop() { stopping_.Notify(); }

  grpc::Status GetStatus(grpc::ServerContext*, const status::StatusRequest*,
                         status::StatusReply* reply) override {
    *reply = source_->Snapshot();
    return grpc::Status::OK;
  }

  grpc::Status WatchStatus(grpc::ServerContext* context, const status::WatchRequest* request,
                           grpc::ServerWriter<status::StatusReply>* writer) override {
    constexpr int kShortestInterval = 10, kLongestInterval = 60000;
    if (request->interval_ms() < kShortestInterval || request->interval_ms() > kLongestInterval) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("interval_ms must be between ", kShortestInterval, " and ",
                                       kLongestInterval, ", not ", request->interval_ms()));
    }
    if (request->max_updates() < 0) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "max_updates must be >= 0 (0: until cancelled)");
    }
    for (int sent = 0; request->max_updates() == 0 || sent < request->max_updates(); ++sent) {
      if (context->IsCancelled()) return grpc::Status::CANCELLED;
      const status::StatusReply reply = source_->Snapshot();
      if (!writer->Write(reply)) return grpc::Status::OK;  // the client went away
      if (!reply.running()) break;                          // nothing more will change
      if (stopping_.WaitForNotificationWithTimeout(absl::Milliseconds(request->interval_ms()))) {
        break;
      }
    }
    return grpc::Status::OK;
  }

 private:
  const StatusSource* const source_;
  absl::Notification stopping_;
};

absl::StatusOr<std::unique_ptr<StatusServer>> StatusServer::Start(const std::string& address,
                                                                  int port,
                                                                  const StatusSource* source) {
  std::unique_ptr<StatusServer> server(new StatusServer());
  server->service_ = std::make_unique<Service>(source);
  grpc::ServerBuilder builder;
  // gRPC binds with SO_REUSEPORT by default: a second job on the same port would then share it
  // silently, its requests landing on either. A taken port must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const std::string target = absl::StrCat(address, ":", port);
  builder.AddListeningPort(target, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "the status endpoint cannot listen on ", target,
        " (is the port taken? set HILO_STATUS_PORT / hilorun --status-port to a free one)"));
  }
  return server;
}

StatusServer::~StatusServer() {
  if (server_ == nullptr) return;
  service_->Stop();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
}

}  // namespace hilo
