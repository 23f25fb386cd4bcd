#include "runtime/status/status_server.h"

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

class CountingSource final : public StatusSource {
 public:
  status::StatusReply Snapshot() const override {
    status::StatusReply reply;
    reply.set_queue_depth(++snapshots_);
    reply.set_running(running_.load());
    reply.mutable_topology()->set_world_size(4);
    return reply;
  }
  void set_running(bool running) { running_ = running; }

 private:
  mutable std::atomic<int64_t> snapshots_{0};
  std::atomic<bool> running_{true};
};

std::unique_ptr<status::HiloStatus::Stub> Connect(int port) {
  return status::HiloStatus::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

TEST(StatusServerTest, GetAndWatch) {
  CountingSource source;
  absl::StatusOr<std::unique_ptr<StatusServer>> server = StatusServer::Start("127.0.0.1", 0, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto stub = Connect((*server)->port());

  grpc::ClientContext get_context;
  status::StatusReply reply;
  ASSERT_TRUE(stub->GetStatus(&get_context, status::StatusRequest(), &reply).ok());
  EXPECT_EQ(reply.topology().world_size(), 4);
  EXPECT_EQ(reply.queue_depth(), 1);

  grpc::ClientContext watch_context;
  status::WatchRequest watch;
  watch.set_interval_ms(10);
  watch.set_max_updates(3);
  auto stream = stub->WatchStatus(&watch_context, watch);
  int updates = 0;
  while (stream->Read(&reply)) ++updates;
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(updates, 3);
}

TEST(StatusServerTest, BadRequestsGetErrorsAndTheServerGoesOn) {
  CountingSource source;
  absl::StatusOr<std::unique_ptr<StatusServer>> server = StatusServer::Start("127.0.0.1", 0, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = Connect((*server)->port());
  for (auto [interval, max_updates] : {std::pair{0, 1}, std::pair{-5, 1}, std::pair{100000, 1},
                                       std::pair{100, -1}}) {
    grpc::ClientContext context;
    status::WatchRequest watch;
    watch.set_interval_ms(interval);
    watch.set_max_updates(max_updates);
    auto stream = stub->WatchStatus(&context, watch);
    status::StatusReply reply;
    EXPECT_FALSE(stream->Read(&reply));
    const grpc::Status finished = stream->Finish();
    EXPECT_EQ(finished.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << interval;
  }
  grpc::ClientContext context;
  status::StatusReply reply;
  EXPECT_TRUE(stub->GetStatus(&context, status::StatusRequest(), &reply).ok());
}

TEST(StatusServerTest, AStoppedRuntimeEndsTheWatchAndShutdownEndsOpenStreams) {
  CountingSource source;
  absl::StatusOr<std::unique_ptr<StatusServer>> server = StatusServer::Start("127.0.0.1", 0, &source);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = Connect((*server)->port());
  source.set_running(false);
  {
    grpc::ClientContext context;
    status::WatchRequest watch;
    watch.set_interval_ms(10);
    auto stream = stub->WatchStatus(&context, watch);
    status::StatusReply reply;
    int updates = 0;
    while (stream->Read(&reply)) ++updates;
    EXPECT_EQ(updates, 1) << "a stopped runtime sends its last status and ends the stream";
    EXPECT_TRUE(stream->Finish().ok());
  }
  source.set_running(true);
  grpc::ClientContext context;
  status::WatchRequest watch;
  watch.set_interval_ms(60000);  // would wait a minute between updates
  auto stream = stub->WatchStatus(&context, watch);
  status::StatusReply reply;
  ASSERT_TRUE(stream->Read(&reply));
  const absl::Time start = absl::Now();
  server->reset();  // must not wait out the interval
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  while (stream->Read(&reply)) {
  }
}

TEST(StatusServerTest, ATakenPortIsAClearError) {
  CountingSource source;
  absl::StatusOr<std::unique_ptr<StatusServer>> first = StatusServer::Start("127.0.0.1", 0, &source);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<StatusServer>> second =
      StatusServer::Start("127.0.0.1", (*first)->port(), &source);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("HILO_STATUS_PORT"));
}

}  // namespace
}  // namespace hilo
