#include "runtime/transport/shm/shm_communicator.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <new>

#include "absl/strings/str_cat.h"
#include "kernels/reduce.h"
#include "runtime/common/shard_split.h"
#include "runtime/common/status_macros.h"

namespace hilo::transport {
namespace {

// Each member's slot; the segment holds 2 sets of P slots. 1 MiB keeps a 16-rank segment at
// 32 MiB (Docker's default /dev/shm is 64 MiB) while a piece is large enough that two barriers
// cost little against its copies.
constexpr size_t kSlotBytes = size_t{1} << 20;
// Each member's control slot (agreements of the negotiation: a few hundred bytes to a few KiB).
constexpr size_t kControlSlotBytes = size_t{16} << 10;
// Polls of the barrier word (each yielding the CPU) before sleeping on the futex: a peer that is
// running arrives within microseconds, and one that is not must get the CPU.
constexpr int kPollsBeforeSleeping = 16;
// The longest single futex sleep, so that the deadline and the abort flag are rechecked.
constexpr absl::Duration kLongestSleep = absl::Milliseconds(100);

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value, const struct timespec* timeout) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word layout");
  // Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

std::string ReadFirstLine(const char* path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

}  // namespace

struct ShmCommunicator::Header {
  alignas(64) std::atomic<uint32_t> arrived{0};     // members in the current barrier
  alignas(64) std::atomic<uint32_t> generation{0};  // completed barriers (the futex word)
  alignas(64) std::atomic<uint32_t> aborted{0};     // a member gave up waiting
  // Set by the first member that aborts with a reason, before `aborted`: its rank and message.
  std::atomic<uint32_t> reason_claimed{0};
  int32_t reason_rank = -1;
  char reason[1024] = {};
};

size_t ShmCommunicator::HeaderBytes() { return (sizeof(Header) + 4095) / 4096 * 4096; }

std::string ShmCommunicator::ThisNode() {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "/", ReadFirstLine("/proc/sys/kernel/random/boot_id"));
}

namespace {

// Rank 0's verdict on a segment for `communicator` (members on `nodes`, rank 0 on `node`):
// "S:<name>" with the segment created (its descriptor in *created_fd), "E:<why>" when the
// members are on different machines, "R:<why>" when it cannot be created.
std::string CreateSegmentOnRoot(const std::vector<std::string>& nodes, const std::string& node,
                                const std::string& communicator, uintptr_t communicator_id,
                                size_t mapping_bytes, int* created_fd) {
  for (size_t r = 1; r < nodes.size(); ++r) {
    if (nodes[r] != node) {
      return absl::StrCat("E:members of ", communicator, " are on different machines (rank 0 on ",
                          node, ", rank ", r, " on ", nodes[r], ")");
    }
  }
  // Unique among live segments: this process, this communicator object, and the time.
  const std::string segment = absl::StrCat("/hilo-", getpid(), "-", communicator_id, "-",
                                           absl::ToUnixNanos(absl::Now()));
  const int fd = shm_open(segment.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  // posix_fallocate, not ftruncate alone: a /dev/shm too small for the segment is an error here
  // instead of a SIGBUS at the first touch of a missing page.
  const int reserved = fd < 0 ? errno : posix_fallocate(fd, 0, static_cast<off_t>(mapping_bytes));
  if (fd < 0 || reserved != 0) {
    if (fd >= 0) {
      close(fd);
      shm_unlink(segment.c_str());
    }
    return absl::StrCat("R:cannot create a ", mapping_bytes >> 20,
                        " MiB shared-memory segment for ", communicator, ": ",
                        std::strerror(reserved));
  }
  *created_fd = fd;
  return absl::StrCat("S:", segment);
}

// Every member maps `segment` (rank 0 through `created_fd`); then rank 0 unlinks the name (the
// mappings keep the memory until the last one goes), so nothing is left in /dev/shm even on a
// crash. Collective: an error on every member if any could not map it.
absl::StatusOr<void*> MapOnEveryMember(transport::ControlChannel* control,
                                       const std::string& segment, int created_fd,
                                       size_t mapping_bytes, const std::string& communicator) {
  const int fd = created_fd >= 0 ? created_fd : shm_open(segment.c_str(), O_RDWR, 0600);
  void* mapping = MAP_FAILED;
  if (fd >= 0) {
    mapping = mmap(nullptr, mapping_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
  }
  std::vector<uint64_t> all_mapped = {mapping != MAP_FAILED ? ~uint64_t{0} : 0};
  const absl::Status agreed = control->AllreduceBitwiseAnd(absl::MakeSpan(all_mapped));
  if (control->rank() == 0) shm_unlink(segment.c_str());
  if (!agreed.ok() || all_mapped[0] == 0) {
    if (mapping != MAP_FAILED) munmap(mapping, mapping_bytes);
    if (!agreed.ok()) return agreed;
    return absl::ResourceExhaustedError(
        absl::StrCat("a member of ", communicator, " could not map the shared-memory segment"));
  }
  return mapping;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ShmCommunicator>> ShmCommunicator::Create(
    Communicator* inner, ControlChannel* control, const std::string& node,
    absl::Duration timeout) {
  const int members = control->size();
  const size_t mapping_bytes =
      HeaderBytes() + 2 * static_cast<size_t>(members) * (kControlSlotBytes + kSlotBytes);
  // Rank 0 checks that everybody is on its machine and creates the segment; its verdict (a
  // segment name, or an error) reaches every member, so all of them decide alike.
  absl::StatusOr<std::vector<std::string>> nodes = control->GatherToRoot(node);
  if (!nodes.ok()) return nodes.status();
  std::string verdict;
  int created_fd = -1;
  if (control->rank() == 0) {
    verdict = CreateSegmentOnRoot(*nodes, node, inner->name(),
                                  reinterpret_cast<uintptr_t>(inner), mapping_bytes, &created_fd);
  }
  if (absl::Status status = control->BroadcastFromRoot(&verdict); !status.ok()) {
    if (created_fd >= 0) {
      close(created_fd);
      shm_unlink(verdict.substr(2).c_str());
    }
    return status;
  }
  if (verdict.rfind("E:", 0) == 0) return absl::FailedPreconditionError(verdict.substr(2));
  if (verdict.rfind("R:", 0) == 0) return absl::ResourceExhaustedError(verdict.substr(2));
  HILO_ASSIGN_OR_RETURN(void* mapping, MapOnEveryMember(control, verdict.substr(2), created_fd,
                                                        mapping_bytes, inner->name()));
  if (control->rank() == 0) new (mapping) Header();
  // The header is constructed before anyone uses it.
  std::vector<uint64_t> constructed = {~uint64_t{0}};
  if (absl::Status status = control->AllreduceBitwiseAnd(absl::MakeSpan(constructed));
      !status.ok()) {
    munmap(mapping, mapping_bytes);
    return status;
  }
  return std::unique_ptr<ShmCommunicator>(
      new ShmCommunicator(inner, control, mapping, mapping_bytes, kSlotBytes, timeout));
}

ShmCommunicator::ShmCommunicator(Communicator* inner, ControlChannel* control, void* mapping,
                                 size_t mapping_bytes, size_t slot_bytes, absl::Duration timeout)
    : ForwardingCommunicator(inner),
      control_(control),
      mapping_(mapping),
      mapping_bytes_(mapping_bytes),
      slot_bytes_(slot_bytes),
      timeout_(timeout),
      header_(static_cast<Header*>(mapping)) {}

ShmCommunicator::~ShmCommunicator() { munmap(mapping_, mapping_bytes_); }

// Layout: header page(s), 2 x P control slots, 2 x P data slots.
uint64_t* ShmCommunicator::ControlSlot(int set, int rank) const {
  return reinterpret_cast<uint64_t*>(static_cast<char*>(mapping_) + HeaderBytes() +
                                     (static_cast<size_t>(set) * size() + rank) * kControlSlotBytes);
}

char* ShmCommunicator::Slot(int set, int rank) const {
  return static_cast<char*>(mapping_) + HeaderBytes() + 2 * size() * kControlSlotBytes +
         (static_cast<size_t>(set) * size() + rank) * slot_bytes_;
}

absl::Status ShmCommunicator::AllreduceBitwiseAnd(absl::Span<uint64_t> words) {
  if (words.size() * sizeof(uint64_t) > kControlSlotBytes) {
    return control_->AllreduceBitwiseAnd(words);  // the same decision on every member
  }
  if (absl::Status broken = Broken(); !broken.ok()) return broken;
  if (size() == 1) return absl::OkStatus();
  const int set = next_control_set_;
  next_control_set_ ^= 1;
  std::memcpy(ControlSlot(set, rank()), words.data(), words.size() * sizeof(uint64_t));
  if (absl::Status status = ArriveAndWait(); !status.ok()) return Break(status);
  // Every member ANDs every slot, in place in its own words (its slot keeps its original).
  for (int other = 0; other < size(); ++other) {
    if (other == rank()) continue;
    const uint64_t* theirs = ControlSlot(set, other);
    for (size_t i = 0; i < words.size(); ++i) words[i] &= theirs[i];
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::ArriveAndWait() {
  const uint32_t generation = header_->generation.load(std::memory_order_acquire);
  // The last to arrive opens the barrier; its acq_rel increment has seen every member's writes,
  // and the release of the new generation passes them on to the waiters.
  if (header_->arrived.fetch_add(1, std::memory_order_acq_rel) + 1 ==
      static_cast<uint32_t>(size())) {
    header_->arrived.store(0, std::memory_order_relaxed);
    header_->generation.fetch_add(1, std::memory_order_release);
    Futex(&header_->generation, FUTEX_WAKE, INT_MAX, nullptr);
    return absl::OkStatus();
  }
  for (int poll = 0; poll < kPollsBeforeSleeping; ++poll) {
    if (header_->generation.load(std::memory_order_acquire) != generation) return absl::OkStatus();
    sched_yield();
  }
  if (const absl::Duration spin =
          absl::Nanoseconds(spin_nanoseconds_.load(std::memory_order_relaxed));
      spin > absl::ZeroDuration()) {
    const absl::Time spin_until = absl::Now() + spin;
    while (absl::Now() < spin_until) {
      if (header_->generation.load(std::memory_order_acquire) != generation) {
        return absl::OkStatus();
      }
      sched_yield();
    }
  }
  const absl::Time deadline = absl::Now() + timeout_;
  while (header_->generation.load(std::memory_order_acquire) == generation) {
    if (header_->aborted.load(std::memory_order_acquire) != 0) {
      if (header_->reason_rank >= 0) {
        return absl::AbortedError(absl::StrCat("shared-memory step on ", name(), " (rank ", rank(),
                                               "): rank ", header_->reason_rank, " gave up: ",
                                               header_->reason));
      }
      return absl::AbortedError(absl::StrCat("shared-memory step on ", name(), " (rank ",
                                             rank(), "): a peer gave up waiting"));
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      header_->aborted.store(1, std::memory_order_release);
      Futex(&header_->generation, FUTEX_WAKE, INT_MAX, nullptr);
      return absl::DeadlineExceededError(absl::StrCat(
          "shared-memory step on ", name(), " (rank ", rank(), "): not every member arrived "
          "within ", absl::FormatDuration(timeout_), " (a peer died or stopped calling)"));
    }
    const struct timespec sleep = absl::ToTimespec(std::min(left, kLongestSleep));
    // Returns at once if the generation has already moved on (EAGAIN): no lost wake-up.
    Futex(&header_->generation, FUTEX_WAIT, generation, &sleep);
  }
  return absl::OkStatus();
}

void ShmCommunicator::Abort(const absl::Status& reason) {
  if (header_->reason_claimed.exchange(1, std::memory_order_acq_rel) == 0) {
    const std::string text = reason.ToString();
    const size_t length = std::min(text.size(), sizeof(header_->reason) - 1);
    std::memcpy(header_->reason, text.data(), length);
    header_->reason[length] = '\0';
    header_->reason_rank = rank();
  }
  // The release publishes the reason to whoever sees the flag.
  header_->aborted.store(1, std::memory_order_release);
  Futex(&header_->generation, FUTEX_WAKE, INT_MAX, nullptr);
  absl::MutexLock lock(&broken_mu_);
  if (broken_.ok()) broken_ = absl::AbortedError(reason.ToString());
}

absl::Status ShmCommunicator::Broken() const {
  absl::MutexLock lock(&broken_mu_);
  return broken_;
}

absl::Status ShmCommunicator::Break(absl::Status status) {
  absl::MutexLock lock(&broken_mu_);
  broken_ = status;
  return status;
}

absl::Status ShmCommunicator::Allgather(const void* send, int64_t send_count, void* recv,
                                        absl::Span<const int64_t> recv_counts, DataType dtype) {
  if (absl::Status broken = Broken(); !broken.ok()) return broken;
  const int members = size(), me = rank();
  const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
  HILO_RETURN_IF_ERROR(CheckCounts(*this, "Allgather", recv_counts));
  if (recv_counts[me] != send_count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "allgather on ", name(), ": recv_counts must give each of the ", members,
        " members' send_count"));
  }
  std::vector<int64_t> offsets(members, 0);
  for (int r = 1; r < members; ++r) offsets[r] = offsets[r - 1] + recv_counts[r - 1];
  char* const out = static_cast<char*>(recv);
  const char* const in = static_cast<const char*>(send);
  char* const own_block = out + offsets[me] * element;
  if (in != own_block && send_count > 0) {
    std::memmove(own_block, in, static_cast<size_t>(send_count * element));
  }
  if (members == 1) return absl::OkStatus();
  const int64_t piece_limit = static_cast<int64_t>(slot_bytes_) / element;
  const int64_t largest = *std::max_element(recv_counts.begin(), recv_counts.end());
  // Every member takes the same number of rounds (recv_counts is the same everywhere), a slot's
  // worth of each block per round.
  for (int64_t first = 0; first < largest; first += piece_limit) {
    const int set = next_set_;
    next_set_ ^= 1;
    const auto part = [&](int r) {
      return std::max<int64_t>(0, std::min(piece_limit, recv_counts[r] - first));
    };
    if (part(me) > 0) {
      std::memcpy(Slot(set, me), own_block + first * element,
                  static_cast<size_t>(part(me) * element));
    }
    if (absl::Status status = ArriveAndWait(); !status.ok()) return Break(status);
    for (int other = 0; other < members; ++other) {
      if (other == me || part(other) == 0) continue;
      std::memcpy(out + (offsets[other] + first) * element, Slot(set, other),
                  static_cast<size_t>(part(other) * element));
    }
  }
  return absl::OkStatus();
}

absl::Status ShmCommunicator::AllreduceSum(void* data, int64_t count, DataType dtype) {
  const int64_t bytes = count * static_cast<int64_t>(DataTypeSize(dtype));
  const Slice whole{data, 0, bytes};
  return SumPieces(absl::MakeConstSpan(&whole, 1), dtype);
}

absl::Status ShmCommunicator::AllreduceSumSlices(absl::Span<const Slice> slices, DataType dtype) {
  return SumPieces(slices, dtype);
}

namespace {

// Calls copy(slice byte pointer, position in [begin, end), bytes) for every part of `slices` that
// falls in bytes [begin, end) of their concatenation.
template <typename Copy>
void ForEachOverlap(absl::Span<const Communicator::Slice> slices, int64_t begin, int64_t end,
                    Copy copy) {
  for (const Communicator::Slice& slice : slices) {
    const int64_t from = std::max(begin, slice.offset);
    const int64_t to = std::min(end, slice.offset + slice.bytes);
    if (from >= to) continue;
    copy(static_cast<char*>(slice.tensor) + (from - slice.offset), from, to - from);
  }
}

}  // namespace

void ShmCommunicator::SumOwnRange(int set, int64_t piece, DataType dtype) {
  const int members = size();
  const int me = rank();
  const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
  char* const mine = Slot(set, me);
  // This rank's range of the piece: shard `me` of its elements (sizes differ by at most one).
  const int64_t begin = ShardOffset(piece, members, me);
  const int64_t length = ShardOffset(piece, members, me + 1) - begin;
  // Every element is summed in slot order, ((s0 + s1) + s2) + ..., whichever rank owns it:
  // ownership follows how a cycle happened to fuse its tensors, so a sum that started from
  // the owner's own slot would differ in its last bits from run to run. Addition commutes
  // bitwise (s1 + s0 == s0 + s1), so ranks 0 and 1 add the others to their own slot in place;
  // the others set their own values aside first.
  char* const sum = mine + begin * element;
  const size_t range_bytes = static_cast<size_t>(length * element);
  const char* own = sum;
  if (me >= 2 && length > 0) {
    own_values_.assign(sum, sum + range_bytes);
    own = own_values_.data();
    std::memcpy(sum, Slot(set, 0) + begin * element, range_bytes);
  }
  for (int other = me >= 2 ? 1 : 0; other < members && length > 0; ++other) {
    if (other == me && me < 2) continue;  // already in `sum`
    const char* const values = other == me ? own : Slot(set, other) + begin * element;
    kernels::SumInto(sum, values, length, dtype);
  }
}

absl::Status ShmCommunicator::SumPieces(absl::Span<const Slice> slices, DataType dtype) {
  if (absl::Status broken = Broken(); !broken.ok()) return broken;
  const int members = size();
  const int64_t element = static_cast<int64_t>(DataTypeSize(dtype));
  int64_t total_bytes = 0;
  for (const Slice& slice : slices) {
    if (slice.offset != total_bytes || slice.bytes % element != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shared-memory allreduce on ", name(), ": slices must be contiguous whole elements"));
    }
    total_bytes += slice.bytes;
  }
  const int64_t count = total_bytes / element;
  if (members == 1 || count == 0) return absl::OkStatus();
  const int64_t piece_limit = static_cast<int64_t>(slot_bytes_) / element;
  const int me = rank();
  for (int64_t offset = 0; offset < count; offset += piece_limit) {
    const int64_t piece = std::min(piece_limit, count - offset);
    const int64_t piece_begin = offset * element, piece_end = (offset + piece) * element;
    const int set = next_set_;
    next_set_ ^= 1;
    char* const mine = Slot(set, me);
    ForEachOverlap(slices, piece_begin, piece_end, [&](char* part, int64_t at, int64_t bytes) {
      std::memcpy(mine + (at - piece_begin), part, static_cast<size_t>(bytes));
    });
    if (absl::Status status = ArriveAndWait(); !status.ok()) return Break(status);
    if (members == 2) {
      // Two ranks: each adds the other's piece to its own data, one barrier instead of two and
      // less memory traffic. Both get identical bits, since a + b == b + a in every dtype (the
      // 16-bit formats are added in float32 and rounded once).
      const char* const theirs = Slot(set, 1 - me);
      ForEachOverlap(slices, piece_begin, piece_end, [&](char* part, int64_t at, int64_t bytes) {
        kernels::SumInto(part, theirs + (at - piece_begin), bytes / element, dtype);
      });
      continue;
    }
    SumOwnRange(set, piece, dtype);
    // Range r of the piece: shard r of its elements (sizes differ by at most one).
    const auto range_begin = [&](int r) { return ShardOffset(piece, members, r); };
    if (absl::Status status = ArriveAndWait(); !status.ok()) return Break(status);
    for (int owner = 0; owner < members; ++owner) {
      const char* const sums = Slot(set, owner);
      ForEachOverlap(slices, piece_begin + range_begin(owner) * element,
                     piece_begin + range_begin(owner + 1) * element,
                     [&](char* part, int64_t at, int64_t bytes) {
                       std::memcpy(part, sums + (at - piece_begin), static_cast<size_t>(bytes));
                     });
    }
  }
  return absl::OkStatus();
}

}  // namespace hilo::transport
