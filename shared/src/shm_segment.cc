#include "vpn/shm_segment.h"

#include <algorithm>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"

namespace vpn::shm {
namespace {

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t RingBytes(uint32_t slot_size, uint32_t slots) {
  return sizeof(RingHeader) + uint64_t(slot_size) * slots;
}

std::string ShmPath(const std::string& name) {
  return name.empty() || name[0] != '/' ? "/" + name : name;
}

absl::Status CheckHeader(const Header& h, const std::string& name) {
  if (h.magic != kMagic) {
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory segment ", name,
                     " is not a vpn concentrator segment (bad magic)"));
  }
  if (h.abi_version != kAbiVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shared memory ABI mismatch on ", name, ": segment has version ",
        h.abi_version, ", this binary speaks version ", kAbiVersion,
        "; run a dataplane and control plane from the same release"));
  }
  if (h.header_size != sizeof(Header)) {
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory header size mismatch on ", name));
  }
  return absl::OkStatus();
}

}  // namespace

Layout Layout::Compute(const SegmentSizing& s) {
  Layout l{};
  uint64_t off = AlignUp(sizeof(Header), 4096);
  l.sa_table_offset = off;
  off = AlignUp(off + uint64_t(s.max_sas) * sizeof(SaRecord), 4096);
  l.session_table_offset = off;
  off = AlignUp(off + uint64_t(s.max_sessions) * sizeof(SessionRecord), 4096);
  l.worker_counters_offset = off;
  off = AlignUp(off + kMaxWorkers * sizeof(WorkerCounters), 4096);
  l.sa_counters_offset = off;
  off = AlignUp(off + uint64_t(kMaxWorkers) * s.max_sas * sizeof(SaCounters),
                4096);
  l.session_counters_offset = off;
  off = AlignUp(off + uint64_t(kMaxWorkers) * s.max_sessions *
                          sizeof(SessionCounters),
                4096);
  l.punt_rings_offset = off;
  l.punt_ring_stride = AlignUp(RingBytes(kPuntSlotSize, kPuntSlots), 4096);
  off += kMaxWorkers * l.punt_ring_stride;
  l.inject_ring_offset = off;
  off = AlignUp(off + RingBytes(kInjectSlotSize, kInjectSlots), 4096);
  l.update_ring_offset = off;
  off = AlignUp(off + RingBytes(sizeof(UpdateNotice), kUpdateSlots), 4096);
  l.total_size = off;
  return l;
}

Segment::Segment(Segment&& o) noexcept
    : base_(o.base_), size_(o.size_), created_(o.created_) {
  o.base_ = nullptr;
  o.size_ = 0;
}

Segment& Segment::operator=(Segment&& o) noexcept {
  if (this != &o) {
    if (base_) munmap(base_, size_);
    base_ = o.base_;
    size_ = o.size_;
    created_ = o.created_;
    o.base_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Segment::~Segment() {
  if (base_) munmap(base_, size_);
}

void Segment::Unlink(const std::string& name) {
  shm_unlink(ShmPath(name).c_str());
}

absl::StatusOr<Segment> Segment::Attach(const std::string& name) {
  const std::string path = ShmPath(name);
  int fd = shm_open(path.c_str(), O_RDWR, 0600);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open shared memory ", path,
                                            ": ", strerror(errno)));
  }
  struct stat st {};
  // The creator sizes the file before writing the magic; wait briefly for a
  // creator that is still initialising.
  for (int i = 0; i < 200; ++i) {
    if (fstat(fd, &st) == 0 && st.st_size >= int64_t(sizeof(Header))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (st.st_size < int64_t(sizeof(Header))) {
    close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory ", path, " is too small"));
  }
  void* p = mmap(nullptr, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    return absl::InternalError(
        absl::StrCat("mmap ", path, ": ", strerror(errno)));
  }
  Segment seg;
  seg.base_ = static_cast<uint8_t*>(p);
  seg.size_ = st.st_size;
  const Header& h = seg.header();
  for (int i = 0; i < 200; ++i) {
    if (std::atomic_ref<const uint64_t>(h.magic).load(
            std::memory_order_acquire) == kMagic)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (absl::Status s = CheckHeader(h, path); !s.ok()) return s;
  if (h.segment_size != seg.size_) {
    return absl::FailedPreconditionError(
        absl::StrCat("shared memory ", path, " size mismatch"));
  }
  return seg;
}

absl::StatusOr<Segment> Segment::OpenOrCreate(const std::string& name,
                                              const SegmentSizing& sizing) {
  if (sizing.max_sas == 0 || sizing.max_sas > kSpiIndexMask ||
      sizing.max_sessions == 0 || sizing.max_sessions > kSpiIndexMask ||
      sizing.n_workers == 0 || sizing.n_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        "shared memory sizing out of range (max_sas 1..1048575, max_sessions "
        "1..1048575, workers 1..16)");
  }
  const std::string path = ShmPath(name);
  const Layout l = Layout::Compute(sizing);
  int fd = shm_open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0 && errno == EEXIST) {
    absl::StatusOr<Segment> seg = Attach(name);
    if (!seg.ok()) return seg.status();
    const Header& h = seg->header();
    if (h.max_sas != sizing.max_sas || h.max_sessions != sizing.max_sessions) {
      return absl::FailedPreconditionError(absl::StrCat(
          "shared memory ", path, " was created for max_sas=", h.max_sas,
          " max_sessions=", h.max_sessions, " but the config asks for ",
          sizing.max_sas, "/", sizing.max_sessions,
          "; stop both processes to resize"));
    }
    return seg;
  }
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("shm_open ", path, ": ", strerror(errno)));
  }
  if (ftruncate(fd, l.total_size) != 0) {
    int e = errno;
    close(fd);
    shm_unlink(path.c_str());
    return absl::ResourceExhaustedError(
        absl::StrCat("ftruncate ", path, " to ", l.total_size, ": ", strerror(e)));
  }
  void* p =
      mmap(nullptr, l.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    shm_unlink(path.c_str());
    return absl::InternalError(absl::StrCat("mmap ", path, ": ", strerror(errno)));
  }
  Segment seg;
  seg.base_ = static_cast<uint8_t*>(p);
  seg.size_ = l.total_size;
  seg.created_ = true;
  Header& h = seg.header();  // memory is zero-filled by ftruncate
  h.abi_version = kAbiVersion;
  h.header_size = sizeof(Header);
  h.segment_size = l.total_size;
  h.max_sas = sizing.max_sas;
  h.max_sessions = sizing.max_sessions;
  h.n_workers = sizing.n_workers;
  h.sa_table_offset = l.sa_table_offset;
  h.session_table_offset = l.session_table_offset;
  h.worker_counters_offset = l.worker_counters_offset;
  h.sa_counters_offset = l.sa_counters_offset;
  h.session_counters_offset = l.session_counters_offset;
  h.punt_rings_offset = l.punt_rings_offset;
  h.punt_ring_stride = l.punt_ring_stride;
  h.inject_ring_offset = l.inject_ring_offset;
  h.update_ring_offset = l.update_ring_offset;
  for (uint32_t w = 0; w < kMaxWorkers; ++w)
    InitRing(seg.punt_ring(w), kPuntSlotSize, kPuntSlots);
  InitRing(seg.inject_ring(), kInjectSlotSize, kInjectSlots);
  InitRing(seg.update_ring(), sizeof(UpdateNotice), kUpdateSlots);
  std::atomic_ref<uint64_t>(h.magic).store(kMagic, std::memory_order_release);
  return seg;
}

void InitRing(RingHeader* r, uint32_t slot_size, uint32_t slot_count) {
  r->slot_size = slot_size;
  r->slot_count = slot_count;
  r->head.store(0, std::memory_order_relaxed);
  r->tail.store(0, std::memory_order_relaxed);
  r->dropped.store(0, std::memory_order_relaxed);
}

bool RingPushPacket(RingHeader* r, const PacketMeta& meta,
                    std::span<const uint8_t> data) {
  if (sizeof(PacketMeta) + data.size() > r->slot_size) {
    r->dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  uint8_t* slot = RingReserve(r);
  if (!slot) return false;
  PacketMeta m = meta;
  m.length = static_cast<uint16_t>(data.size());
  std::memcpy(slot, &m, sizeof m);
  if (!data.empty()) std::memcpy(slot + sizeof m, data.data(), data.size());
  RingCommit(r);
  return true;
}

bool RingPushUpdate(RingHeader* r, UpdateNotice n) {
  uint8_t* slot = RingReserve(r);
  if (!slot) return false;
  std::memcpy(slot, &n, sizeof n);
  RingCommit(r);
  return true;
}

SaCounters Segment::SumSaCounters(uint32_t index) const {
  SaCounters sum{};
  if (index >= header().max_sas) return sum;
  const uint32_t gen = __atomic_load_n(&sa(index).generation, __ATOMIC_ACQUIRE);
  for (uint32_t w = 0; w < kMaxWorkers; ++w) {
    const SaCounters& c = sa_counters(w)[index];
    if (!CountersBelong(c, gen)) continue;
    sum.packets += c.packets;
    sum.bytes += c.bytes;
    sum.drops += c.drops;
    sum.last_seen_tsc = std::max(sum.last_seen_tsc, c.last_seen_tsc);
  }
  sum.generation = gen;
  return sum;
}

SessionCounters Segment::SumSessionCounters(uint32_t index) const {
  SessionCounters sum{};
  if (index >= header().max_sessions) return sum;
  const uint32_t gen = __atomic_load_n(&session(index).generation, __ATOMIC_ACQUIRE);
  for (uint32_t w = 0; w < kMaxWorkers; ++w) {
    const SessionCounters& c = session_counters(w)[index];
    if (!CountersBelong(c, gen)) continue;
    sum.rx_packets += c.rx_packets;
    sum.rx_bytes += c.rx_bytes;
    sum.tx_packets += c.tx_packets;
    sum.tx_bytes += c.tx_bytes;
  }
  sum.generation = gen;
  return sum;
}

}  // namespace vpn::shm
