// hilo-status: prints the status endpoint of a running hilo job (proto/status.proto) for people,
// or as JSON for programs.
//
//   hilo-status --port 50051                       # one snapshot of this machine's node
//   hilo-status --address node2:50051 --json
//   hilo-status --port 50051 --watch --interval_ms 2000
#include <cstdio>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "proto/status.grpc.pb.h"

ABSL_FLAG(std::string, address, "", "host:port of the endpoint (default: 127.0.0.1:--port)");
ABSL_FLAG(int, port, 0, "port of the endpoint on this machine (hilorun --status-port)");
ABSL_FLAG(bool, json, false, "print JSON (one object per line when watching)");
ABSL_FLAG(bool, watch, false, "keep printing updates until the job ends or Ctrl-C");
ABSL_FLAG(int, interval_ms, 1000, "milliseconds between updates with --watch");
ABSL_FLAG(int, count, 0, "with --watch: stop after this many updates (0: no limit)");
ABSL_FLAG(double, timeout_s, 10, "give up on a query after this many seconds");

namespace {

std::string Bytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.1f GiB", bytes / 1073741824.0);
  if (bytes >= (int64_t{1} << 20)) return absl::StrFormat("%.1f MiB", bytes / 1048576.0);
  if (bytes >= (int64_t{1} << 10)) return absl::StrFormat("%.1f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

void PrintForPeople(const hilo::status::StatusReply& reply) {
  const hilo::status::Topology& t = reply.topology();
  std::printf("hilo on %s: rank %d of %d (group %d of %d, member %d of %d; local rank %d of %d)\n",
              t.hostname().c_str(), t.world_rank(), t.world_size(), t.group(), t.num_groups(),
              t.group_rank(), t.group_size(), t.local_rank(), t.local_size());
  std::printf("  state        %s, up %.1f s\n",
              reply.running() ? "running" : ("stopped: " + reply.stopped_reason()).c_str(),
              reply.uptime_seconds());
  std::printf("  queue        %lld tensors in flight\n", static_cast<long long>(reply.queue_depth()));
  std::printf("  %-12s %6s %11s %11s %9s %20s %11s\n", "communicator", "size", "operations",
              "bytes", "busy s", "cache hits / misses", "agreements");
  for (const hilo::status::CommunicatorStatus& c : reply.communicators()) {
    std::printf("  %-12s %6d %11lld %11s %9.3f %20s %11lld\n", c.name().c_str(), c.size(),
                static_cast<long long>(c.operations()), Bytes(c.bytes()).c_str(), c.busy_seconds(),
                absl::StrCat(c.cache_hits(), " / ", c.cache_misses()).c_str(),
                static_cast<long long>(c.agreements()));
  }
  const hilo::status::AveragingStatus& a = reply.averaging();
  if (a.rounds() == 0) {
    std::printf("  averaging    no rounds yet\n");
  } else {
    std::printf("  averaging    %lld rounds; latest: D = %.3g over %lld elements in %.1f ms\n",
                static_cast<long long>(a.rounds()), a.latest_discrepancy(),
                static_cast<long long>(a.latest_elements()), a.latest_seconds() * 1e3);
  }
  if (reply.stalls().empty()) std::printf("  stalls       none\n");
  for (const hilo::status::Stall& s : reply.stalls()) {
    std::printf("  stall        tensor '%s' on %s: submitted by %s, not by %s, for %.1f s\n",
                s.tensor().c_str(), s.communicator().c_str(),
                absl::StrJoin(s.submitted_by(), ", ").c_str(),
                absl::StrJoin(s.missing(), ", ").c_str(), s.waiting_seconds());
  }
  std::vector<std::string> settings;
  for (const hilo::status::Setting& s : reply.settings()) {
    settings.push_back(absl::StrCat(s.name(), "=", s.value()));
  }
  std::printf("  settings     %s\n", absl::StrJoin(settings, " ").c_str());
  std::fflush(stdout);
}

void Print(const hilo::status::StatusReply& reply, bool json) {
  if (!json) {
    PrintForPeople(reply);
    return;
  }
  std::string text;
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(reply, &text, options).ok()) text = "{}";
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

int Fail(const std::string& target, const grpc::Status& status) {
  std::fprintf(stderr, "hilo-status: %s: %s (%d)\n", target.c_str(),
               status.error_message().c_str(), static_cast<int>(status.error_code()));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("prints the status of a running hilo job: hilo-status --port N");
  absl::ParseCommandLine(argc, argv);
  std::string target = absl::GetFlag(FLAGS_address);
  if (target.empty()) {
    if (absl::GetFlag(FLAGS_port) <= 0) {
      std::fprintf(stderr, "hilo-status: give --port (the job's --status-port) or --address\n");
      return 2;
    }
    target = absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_port));
  }
  auto stub = hilo::status::HiloStatus::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  const auto deadline = std::chrono::system_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_timeout_s) * 1000));
  const bool json = absl::GetFlag(FLAGS_json);

  if (!absl::GetFlag(FLAGS_watch)) {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    hilo::status::StatusReply reply;
    const grpc::Status status = stub->GetStatus(&context, hilo::status::StatusRequest(), &reply);
    if (!status.ok()) return Fail(target, status);
    Print(reply, json);
    return 0;
  }
  grpc::ClientContext context;
  hilo::status::WatchRequest request;
  request.set_interval_ms(absl::GetFlag(FLAGS_interval_ms));
  request.set_max_updates(absl::GetFlag(FLAGS_count));
  auto stream = stub->WatchStatus(&context, request);
  hilo::status::StatusReply reply;
  while (stream->Read(&reply)) {
    Print(reply, json);
    if (!json) std::printf("\n");
  }
  const grpc::Status status = stream->Finish();
  return status.ok() ? 0 : Fail(target, status);
}
