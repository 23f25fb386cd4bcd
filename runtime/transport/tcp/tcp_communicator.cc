#include "runtime/transport/tcp/tcp_communicator.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/reduce.h"
#include "runtime/common/shard_split.h"
#include "runtime/common/status_macros.h"

namespace hilo::transport {
namespace {

// What each rank tells the others at set-up, as int64 words (the inner communicator's allgather
// moves typed elements): whether it could listen, its IPv4 address and port, its hostname.
constexpr int kHostWords = 8;  // 64 bytes of hostname
constexpr int kSetupWords = 3 + kHostWords;

std::string ErrnoText(int error) { return std::strerror(error); }

// A file descriptor closed when it goes out of scope unless released.
class ScopedFd {
 public:
  explicit ScopedFd(int fd = -1) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

int PollMilliseconds(absl::Duration remaining) {
  if (remaining <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(remaining) + 1, 1 << 30));
}

absl::Status SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::InternalError(absl::StrCat("fcntl(O_NONBLOCK): ", ErrnoText(errno)));
  }
  return absl::OkStatus();
}

// Waits until `fd` is ready for `events` or `deadline` passes.
absl::Status WaitFor(int fd, short events, absl::Time deadline, absl::string_view what) {
  while (true) {
    pollfd entry{fd, events, 0};
    const int ready = poll(&entry, 1, PollMilliseconds(deadline - absl::Now()));
    if (ready > 0) return absl::OkStatus();
    if (ready == 0) return absl::DeadlineExceededError(absl::StrCat("timed out ", what));
    if (errno != EINTR) return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
  }
}

// Writes or reads all of `bytes` on a non-blocking socket before `deadline` (set-up only).
absl::Status TransferAll(int fd, char* data, size_t bytes, bool sending, absl::Time deadline,
                         absl::string_view what) {
  while (bytes > 0) {
    const ssize_t moved = sending ? send(fd, data, bytes, MSG_NOSIGNAL) : recv(fd, data, bytes, 0);
    if (moved > 0) {
      data += moved;
      bytes -= static_cast<size_t>(moved);
      continue;
    }
    if (moved == 0) return absl::UnavailableError(absl::StrCat("connection closed ", what));
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat(what, ": ", ErrnoText(errno)));
    }
    HILO_RETURN_IF_ERROR(WaitFor(fd, sending ? POLLOUT : POLLIN, deadline, what));
  }
  return absl::OkStatus();
}

sockaddr_in MakeAddress(uint32_t ip, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = ip;
  address.sin_port = port;
  return address;
}

std::string AddressText(uint32_t ip, uint16_t port) {
  char text[INET_ADDRSTRLEN] = {};
  in_addr in{};
  in.s_addr = ip;
  inet_ntop(AF_INET, &in, text, sizeof(text));
  return absl::StrCat(text, ":", ntohs(port));
}

// Connects to `peer` and says who is calling (our rank, as 4 bytes).
absl::StatusOr<int> ConnectTo(const sockaddr_in& peer, int32_t my_rank, absl::Time deadline) {
  ScopedFd fd(socket(AF_INET, SOCK_STREAM, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  HILO_RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&peer), sizeof(peer)) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(absl::StrCat("connect: ", ErrnoText(errno)));
    }
    HILO_RETURN_IF_ERROR(WaitFor(fd.get(), POLLOUT, deadline, "connecting"));
    int error = 0;
    socklen_t length = sizeof(error);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) return absl::UnavailableError(absl::StrCat("connect: ", ErrnoText(error)));
  }
  HILO_RETURN_IF_ERROR(TransferAll(fd.get(), reinterpret_cast<char*>(&my_rank), sizeof(my_rank),
                                   /*sending=*/true, deadline, "sending the greeting"));
  return fd.release();
}

// Accepts the connection of rank `expected` (checked by its greeting).
absl::StatusOr<int> AcceptFrom(int listener, int32_t expected, absl::Time deadline) {
  HILO_RETURN_IF_ERROR(WaitFor(listener, POLLIN, deadline, "waiting for the ring's previous rank"));
  ScopedFd fd(accept(listener, nullptr, nullptr));
  if (fd.get() < 0) return absl::UnavailableError(absl::StrCat("accept: ", ErrnoText(errno)));
  HILO_RETURN_IF_ERROR(SetNonBlocking(fd.get()));
  int32_t caller = -1;
  HILO_RETURN_IF_ERROR(TransferAll(fd.get(), reinterpret_cast<char*>(&caller), sizeof(caller),
                                   /*sending=*/false, deadline, "reading the greeting"));
  if (caller != expected) {
    return absl::InternalError(
        absl::StrCat("expected a connection from rank ", expected, ", got one from ", caller));
  }
  return fd.release();
}

void TuneSocket(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

absl::StatusOr<std::string> TcpCommunicator::ListenAddress(const std::string& interface) {
  ifaddrs* interfaces = nullptr;
  if (getifaddrs(&interfaces) != 0) {
    return absl::InternalError(absl::StrCat("getifaddrs: ", ErrnoText(errno)));
  }
  std::string found;
  for (ifaddrs* entry = interfaces; entry != nullptr && found.empty(); entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
    if (interface.empty()) {
      if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
    } else if (interface != entry->ifa_name) {
      continue;
    }
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(entry->ifa_addr)->sin_addr, text,
              sizeof(text));
    found = text;
  }
  freeifaddrs(interfaces);
  if (!found.empty()) return found;
  if (interface.empty()) return std::string("127.0.0.1");
  return absl::NotFoundError(
      absl::StrCat("network interface '", interface, "' has no IPv4 address here"));
}

namespace {

// Step 1 of Create: listens on `interface` and describes where in `mine` (kSetupWords: ok,
// address, port, hostname).
absl::Status ListenForRing(const std::string& interface, ScopedFd& listener,
                           std::vector<int64_t>& mine) {
  HILO_ASSIGN_OR_RETURN(const std::string ip, TcpCommunicator::ListenAddress(interface));
  sockaddr_in address = MakeAddress(0, 0);
  if (inet_pton(AF_INET, ip.c_str(), &address.sin_addr) != 1) {
    return absl::InternalError(absl::StrCat("bad address ", ip));
  }
  listener.reset(socket(AF_INET, SOCK_STREAM, 0));
  if (listener.get() < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listener.get(), 16) != 0) {
    return absl::UnavailableError(absl::StrCat("listening on ", ip, ": ", ErrnoText(errno)));
  }
  socklen_t length = sizeof(address);
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length);
  HILO_RETURN_IF_ERROR(SetNonBlocking(listener.get()));
  mine[0] = 1;
  mine[1] = address.sin_addr.s_addr;
  mine[2] = address.sin_port;
  char host[kHostWords * 8] = {};
  gethostname(host, sizeof(host) - 1);
  std::memcpy(&mine[3], host, sizeof(host));
  return absl::OkStatus();
}

// Step 2: connects to the next rank (described by `next_words`; its kernel queues us until it
// accepts), then accepts the previous one.
absl::Status ConnectRing(const int64_t* next_words, const std::string& next_address, int rank,
                         int next, int previous, int listener, absl::Time deadline,
                         ScopedFd& send_fd, ScopedFd& receive_fd) {
  absl::StatusOr<int> connected = ConnectTo(
      MakeAddress(static_cast<uint32_t>(next_words[1]), static_cast<uint16_t>(next_words[2])),
      rank, deadline);
  if (!connected.ok()) {
    return absl::Status(connected.status().code(),
                        absl::StrCat("to rank ", next, " at ", next_address, ": ",
                                     connected.status().message()));
  }
  send_fd.reset(*connected);
  absl::StatusOr<int> accepted = AcceptFrom(listener, previous, deadline);
  if (!accepted.ok()) {
    return absl::Status(accepted.status().code(),
                        absl::StrCat("from rank ", previous, ": ", accepted.status().message()));
  }
  receive_fd.reset(*accepted);
  TuneSocket(send_fd.get());
  TuneSocket(receive_fd.get());
  return absl::OkStatus();
}

absl::Status RingSetupError(const std::string& communicator,
                            const std::vector<std::string>& problems, const absl::Status& local) {
  return absl::FailedPreconditionError(absl::StrCat(
      "TCP ring on ", communicator, ": ", absl::StrJoin(problems, "; "),
      local.ok() ? "" : absl::StrCat(" (here: ", local.message(), ")")));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TcpCommunicator>> TcpCommunicator::Create(
    Communicator* inner, const std::string& interface, absl::Duration timeout) {
  const int rank = inner->rank(), size = inner->size();
  const absl::Time deadline = absl::Now() + timeout;
  // 1. Listen, and tell everybody where (or that this rank could not).
  ScopedFd listener;
  std::vector<int64_t> mine(kSetupWords, 0);
  absl::Status local = ListenForRing(interface, listener, mine);
  std::vector<int64_t> everyone(static_cast<size_t>(kSetupWords) * size);
  HILO_RETURN_IF_ERROR(inner->Allgather(mine.data(), kSetupWords, everyone.data(),
                                        std::vector<int64_t>(size, kSetupWords),
                                        DataType::kInt64));
  std::vector<Peer> peers(size);
  std::vector<std::string> problems;
  for (int r = 0; r < size; ++r) {
    const int64_t* words = &everyone[static_cast<size_t>(r) * kSetupWords];
    char host[kHostWords * 8 + 1] = {};
    std::memcpy(host, &words[3], kHostWords * 8);
    peers[r].host = host;
    peers[r].address =
        AddressText(static_cast<uint32_t>(words[1]), static_cast<uint16_t>(words[2]));
    if (words[0] != 1) problems.push_back(absl::StrCat("rank ", r, " could not listen"));
  }
  if (!problems.empty()) return RingSetupError(inner->name(), problems, local);
  // 2. Connect to the next rank, accept the previous one.
  ScopedFd send_fd, receive_fd;
  const int next = (rank + 1) % size, previous = (rank + size - 1) % size;
  local = ConnectRing(&everyone[static_cast<size_t>(next) * kSetupWords], peers[next].address,
                      rank, next, previous, listener.get(), deadline, send_fd, receive_fd);
  // Everybody learns whether the whole ring is up, so that no rank uses it alone.
  const int64_t connected = local.ok() ? 1 : 0;
  std::vector<int64_t> all_connected(size);
  HILO_RETURN_IF_ERROR(inner->Allgather(&connected, 1, all_connected.data(),
                                        std::vector<int64_t>(size, 1), DataType::kInt64));
  for (int r = 0; r < size; ++r) {
    if (all_connected[r] != 1) problems.push_back(absl::StrCat("rank ", r, " could not connect"));
  }
  if (!problems.empty()) return RingSetupError(inner->name(), problems, local);
  return std::unique_ptr<TcpCommunicator>(new TcpCommunicator(
      inner, listener.release(), send_fd.release(), receive_fd.release(), std::move(peers),
      timeout));
}

TcpCommunicator::TcpCommunicator(Communicator* inner, int listen_fd, int send_fd, int receive_fd,
                                 std::vector<Peer> peers, absl::Duration timeout)
    : ForwardingCommunicator(inner),
      listen_fd_(listen_fd),
      send_fd_(send_fd),
      receive_fd_(receive_fd),
      peers_(std::move(peers)),
      timeout_(timeout) {}

TcpCommunicator::~TcpCommunicator() {
  close(listen_fd_);
  close(send_fd_);
  close(receive_fd_);
}

std::string TcpCommunicator::DescribePeer(int rank) const {
  const Peer& peer = peers_[static_cast<size_t>(rank)];
  return absl::StrCat("rank ", rank, " (host ", peer.host, ", ", peer.address, ")");
}

namespace {

// What a connection attempt to "ip:port" found at once.
enum class ProbeStart { kAnswered, kRefused, kPending, kSkipped };

// Starts a non-blocking connection to `address`; on kPending, *fd is the socket to poll.
ProbeStart StartProbe(const std::string& address, int* fd) {
  const size_t colon = address.rfind(':');
  sockaddr_in target = MakeAddress(0, 0);
  int port = 0;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(), &target.sin_addr) != 1 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return ProbeStart::kSkipped;
  }
  target.sin_port = htons(static_cast<uint16_t>(port));
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (*fd < 0) return ProbeStart::kSkipped;
  if (connect(*fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) == 0) {
    close(*fd);
    return ProbeStart::kAnswered;
  }
  if (errno != EINPROGRESS) {  // refused or unroutable: nobody listens there any more
    close(*fd);
    return ProbeStart::kRefused;
  }
  return ProbeStart::kPending;
}

// Polls `probes` until each has answered or `deadline` passed; which of them failed or never
// answered (indices into `probes`). Closes them all.
std::vector<size_t> UnansweredProbes(std::vector<pollfd> probes, absl::Time deadline) {
  std::vector<size_t> failed;
  std::vector<bool> answered(probes.size(), false);
  while (absl::Now() < deadline) {
    std::vector<pollfd> waiting;
    std::vector<size_t> index;
    for (size_t i = 0; i < probes.size(); ++i) {
      if (!answered[i]) {
        waiting.push_back(probes[i]);
        index.push_back(i);
      }
    }
    if (waiting.empty()) break;
    const int ready = poll(waiting.data(), waiting.size(), PollMilliseconds(deadline - absl::Now()));
    if (ready < 0 && errno != EINTR) break;
    for (size_t w = 0; w < waiting.size(); ++w) {
      if (waiting[w].revents == 0) continue;
      int error = 0;
      socklen_t length = sizeof(error);
      getsockopt(waiting[w].fd, SOL_SOCKET, SO_ERROR, &error, &length);
      answered[index[w]] = true;
      if (error != 0) failed.push_back(index[w]);
    }
  }
  for (size_t i = 0; i < probes.size(); ++i) {
    if (!answered[i]) failed.push_back(i);
    close(probes[i].fd);
  }
  return failed;
}

}  // namespace

std::vector<int> TcpCommunicator::UnreachablePeers(absl::Duration timeout) {
  // Earlier probes from the others wait in the listen queue: clear them.
  for (int stale; (stale = accept(listen_fd_, nullptr, nullptr)) >= 0;) close(stale);
  std::vector<int> unreachable;
  std::vector<pollfd> probes;
  std::vector<int> probed;
  for (int r = 0; r < size(); ++r) {
    if (r == rank()) continue;
    int fd = -1;
    switch (StartProbe(peers_[r].address, &fd)) {
      case ProbeStart::kRefused:
        unreachable.push_back(r);
        break;
      case ProbeStart::kPending:
        probes.push_back({fd, POLLOUT, 0});
        probed.push_back(r);
        break;
      case ProbeStart::kAnswered:
      case ProbeStart::kSkipped:
        break;
    }
  }
  for (size_t failed : UnansweredProbes(std::move(probes), absl::Now() + timeout)) {
    unreachable.push_back(probed[failed]);
  }
  std::sort(unreachable.begin(), unreachable.end());
  return unreachable;
}

absl::Status TcpCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  return RingAllreduce(data, count, dtype, [dtype](void* inout, const void* in, int64_t n) {
    kernels::SumInto(inout, in, n, dtype);
  });
}

absl::Status TcpCommunicator::AllreduceWith(void* data, int64_t count, DataType dtype,
                                            kernels::Reduction op) {
  return RingAllreduce(data, count, dtype, [dtype, op](void* inout, const void* in, int64_t n) {
    kernels::ReduceInto(inout, in, n, dtype, op);
  });
}

// Step t < k-1 reduce-scatters, step t >= k-1 allgathers. The block sent at step t is the one
// received at step t-1, so chunk c of step t may leave once chunk c of step t-1 has arrived. The
// ring's k blocks split the buffer as shards do (runtime/common/shard_split.h); each block moves in
// chunks of kChunkBytes. Non-blocking sockets: each pass of Run sends and receives as much as the
// sockets take, then polls.
class TcpCommunicator::RingPass {
 public:
  RingPass(TcpCommunicator& ring, void* data, int64_t count, DataType dtype,
           absl::FunctionRef<void(void*, const void*, int64_t)> combine)
      : ring_(ring),
        base_(static_cast<char*>(data)),
        combine_(combine),
        k_(ring.size()),
        r_(ring.rank()),
        steps_(2 * (k_ - 1)),
        element_(static_cast<int64_t>(DataTypeSize(dtype))),
        chunk_elements_(kChunkBytes / element_),
        block_sizes_(ShardSizes(count, k_)),
        next_((r_ + 1) % k_),
        previous_((r_ + k_ - 1) % k_) {
    for (int b = 0; b < k_; ++b) block_offsets_.push_back(ShardOffset(count, k_, b));
    if (ring.scratch_.size() < static_cast<size_t>(kChunkBytes)) ring.scratch_.resize(kChunkBytes);
    Normalize(out_, /*sending=*/true);
    Normalize(in_, /*sending=*/false);
  }

  absl::Status Run();

 private:
  // A position: (step, chunk, bytes of that chunk moved so far).
  struct Cursor {
    int step = 0;
    int64_t chunk = 0;
    int64_t done = 0;
  };

  int Mod(int value) const { return ((value % k_) + k_) % k_; }
  int SentBlock(int t) const { return t < k_ - 1 ? Mod(r_ - t) : Mod(r_ + 1 - (t - k_ + 1)); }
  int ReceivedBlock(int t) const { return t < k_ - 1 ? Mod(r_ - t - 1) : Mod(r_ - (t - k_ + 1)); }
  int64_t Chunks(int block) const {
    return (block_sizes_[block] + chunk_elements_ - 1) / chunk_elements_;
  }
  int64_t ChunkElements(int block, int64_t c) const {
    return std::min(chunk_elements_, block_sizes_[block] - c * chunk_elements_);
  }
  char* ChunkAt(int block, int64_t c) const {
    return base_ + (block_offsets_[block] + c * chunk_elements_) * element_;
  }
  // Skips steps whose block is empty (count < k): they have no chunks.
  void Normalize(Cursor& cursor, bool sending) const {
    while (cursor.step < steps_ &&
           cursor.chunk >= Chunks(sending ? SentBlock(cursor.step) : ReceivedBlock(cursor.step))) {
      ++cursor.step;
      cursor.chunk = 0;
    }
  }
  // Whether chunk (step, c) has been received completely (and reduced).
  bool Received(int step, int64_t c) const {
    return in_.step > step || (in_.step == step && in_.chunk > c);
  }
  bool CanSend() const { return out_.step < steps_ && (out_.step == 0 || Received(out_.step - 1, out_.chunk)); }
  // Sends as much as the socket takes, chunk after chunk while their inputs are there.
  absl::Status Send(bool& progressed);
  // Receives (and reduces) as much as has arrived.
  absl::Status Receive(bool& progressed);
  absl::Status Timeout(bool waiting_to_receive) const;

  TcpCommunicator& ring_;
  char* const base_;
  const absl::FunctionRef<void(void*, const void*, int64_t)> combine_;
  const int k_, r_, steps_;
  const int64_t element_, chunk_elements_;
  const std::vector<int64_t> block_sizes_;
  std::vector<int64_t> block_offsets_;
  const int next_, previous_;
  Cursor out_, in_;
};

absl::Status TcpCommunicator::RingPass::Run() {
  absl::Time last_progress = absl::Now();
  while (out_.step < steps_ || in_.step < steps_) {
    const bool can_send = CanSend();
    const bool can_receive = in_.step < steps_;
    pollfd entries[2];
    int n = 0, send_entry = -1, receive_entry = -1;
    if (can_send) {
      send_entry = n;
      entries[n++] = {ring_.send_fd_, POLLOUT, 0};
    }
    if (can_receive) {
      receive_entry = n;
      entries[n++] = {ring_.receive_fd_, POLLIN, 0};
    }
    const int ready =
        poll(entries, n, PollMilliseconds(last_progress + ring_.timeout_ - absl::Now()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
    }
    if (ready == 0) return Timeout(can_receive);
    bool progressed = false;
    if (send_entry >= 0 && entries[send_entry].revents != 0) {
      HILO_RETURN_IF_ERROR(Send(progressed));
    }
    if (receive_entry >= 0 && entries[receive_entry].revents != 0) {
      HILO_RETURN_IF_ERROR(Receive(progressed));
    }
    if (progressed) last_progress = absl::Now();
  }
  return absl::OkStatus();
}

absl::Status TcpCommunicator::RingPass::Send(bool& progressed) {
  while (CanSend()) {
    const int block = SentBlock(out_.step);
    const int64_t bytes = ChunkElements(block, out_.chunk) * element_;
    const char* from = ChunkAt(block, out_.chunk);
    const ssize_t sent = send(ring_.send_fd_, from + out_.done,
                              static_cast<size_t>(bytes - out_.done), MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return absl::UnavailableError(absl::StrCat("allreduce on ", ring_.name(), ": sending to ",
                                                 ring_.DescribePeer(next_), ": ",
                                                 ErrnoText(errno)));
    }
    progressed = true;
    out_.done += sent;
    if (out_.done == bytes) {
      out_.done = 0;
      ++out_.chunk;
      Normalize(out_, /*sending=*/true);
    }
  }
  return absl::OkStatus();
}

absl::Status TcpCommunicator::RingPass::Receive(bool& progressed) {
  while (in_.step < steps_) {
    const int block = ReceivedBlock(in_.step);
    const int64_t elements = ChunkElements(block, in_.chunk);
    const int64_t bytes = elements * element_;
    char* place = ChunkAt(block, in_.chunk);
    const bool reducing = in_.step < k_ - 1;
    char* into = reducing ? ring_.scratch_.data() : place;
    const ssize_t got =
        recv(ring_.receive_fd_, into + in_.done, static_cast<size_t>(bytes - in_.done), 0);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return absl::OkStatus();
      return absl::UnavailableError(absl::StrCat(
          "allreduce on ", ring_.name(), ": ", ring_.DescribePeer(previous_),
          got == 0 ? " closed the connection (it exited or gave up)"
                   : absl::StrCat(": ", ErrnoText(errno))));
    }
    progressed = true;
    in_.done += got;
    if (in_.done == bytes) {
      if (reducing) combine_(place, ring_.scratch_.data(), elements);
      in_.done = 0;
      ++in_.chunk;
      Normalize(in_, /*sending=*/false);
    }
  }
  return absl::OkStatus();
}

absl::Status TcpCommunicator::RingPass::Timeout(bool waiting_to_receive) const {
  return absl::DeadlineExceededError(absl::StrCat(
      "allreduce on ", ring_.name(), ": ",
      waiting_to_receive ? absl::StrCat("no data from ", ring_.DescribePeer(previous_))
                         : absl::StrCat(ring_.DescribePeer(next_), " took no data"),
      " for ", absl::FormatDuration(ring_.timeout_),
      ": its node or the link to it is down, or it stopped calling"));
}

absl::Status TcpCommunicator::RingAllreduce(
    void* data, int64_t count, DataType dtype,
    absl::FunctionRef<void(void*, const void*, int64_t)> combine) {
  HILO_RETURN_IF_ERROR(broken_);
  if (size() == 1 || count == 0) return absl::OkStatus();
  const absl::Status status = RingPass(*this, data, count, dtype, combine).Run();
  if (!status.ok()) broken_ = status;
  return status;
}

}  // namespace hilo::transport
