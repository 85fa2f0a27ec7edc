// Mapping the shared segment and the lock-free primitives over it.
// Used by both processes; needs no DPDK (the control plane does not link it).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vpn/shm_abi.h"

namespace vpn::shm {

struct SegmentSizing {
  uint32_t max_sas = 4096;
  uint32_t max_sessions = 4096;
  uint32_t n_workers = 1;
};

// Byte layout derived from the sizing; both processes compute it the same way
// and the attacher checks it against the header.
struct Layout {
  uint64_t sa_table_offset, session_table_offset, worker_counters_offset,
      sa_counters_offset, session_counters_offset, punt_rings_offset,
      punt_ring_stride, inject_ring_offset, update_ring_offset, total_size;
  static Layout Compute(const SegmentSizing& s);
};

class Segment {
 public:
  Segment() = default;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  Segment(Segment&& o) noexcept;
  Segment& operator=(Segment&& o) noexcept;
  ~Segment();

  // Opens the named POSIX shm segment, creating and initialising it if it does
  // not exist. An existing segment of another ABI version, or of other sizes
  // than `sizing`, is refused with a message naming both versions.
  static absl::StatusOr<Segment> OpenOrCreate(const std::string& name,
                                              const SegmentSizing& sizing);
  // Attaches to an existing segment only (vpnctl, tests).
  static absl::StatusOr<Segment> Attach(const std::string& name);
  // Removes the name; mappings stay valid until unmapped.
  static void Unlink(const std::string& name);

  bool created() const { return created_; }
  Header& header() const { return *reinterpret_cast<Header*>(base_); }
  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }

  SaRecord& sa(uint32_t i) const {
    return reinterpret_cast<SaRecord*>(base_ + header().sa_table_offset)[i];
  }
  SessionRecord& session(uint32_t i) const {
    return reinterpret_cast<SessionRecord*>(base_ +
                                            header().session_table_offset)[i];
  }
  WorkerCounters& worker_counters(uint32_t w) const {
    return reinterpret_cast<WorkerCounters*>(
        base_ + header().worker_counters_offset)[w];
  }
  SaCounters* sa_counters(uint32_t w) const {
    return reinterpret_cast<SaCounters*>(base_ + header().sa_counters_offset) +
           uint64_t(w) * header().max_sas;
  }
  SessionCounters* session_counters(uint32_t w) const {
    return reinterpret_cast<SessionCounters*>(
               base_ + header().session_counters_offset) +
           uint64_t(w) * header().max_sessions;
  }
  // Sums of the per-worker rows that belong to the record now in slot
  // `index` (CountersBelong): what that SA/session counted, whatever earlier
  // occupants of the slot counted. last_seen_tsc is the maximum.
  SaCounters SumSaCounters(uint32_t index) const;
  SessionCounters SumSessionCounters(uint32_t index) const;
  RingHeader* punt_ring(uint32_t w) const {
    return reinterpret_cast<RingHeader*>(base_ + header().punt_rings_offset +
                                         w * header().punt_ring_stride);
  }
  RingHeader* inject_ring() const {
    return reinterpret_cast<RingHeader*>(base_ + header().inject_ring_offset);
  }
  RingHeader* update_ring() const {
    return reinterpret_cast<RingHeader*>(base_ + header().update_ring_offset);
  }

 private:
  uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  bool created_ = false;
};

// --- Seqlock over a record -------------------------------------------------
// Writer: BeginWrite, store fields, EndWrite. Reader: ReadConsistent copies the
// whole record and retries until it saw an even, unchanged sequence number.

template <typename Record>
inline void BeginWrite(Record& r) {
  uint32_t s = r.seq.load(std::memory_order_relaxed);
  r.seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
}

template <typename Record>
inline void EndWrite(Record& r) {
  uint32_t s = r.seq.load(std::memory_order_relaxed);
  r.seq.store(s + 1, std::memory_order_release);
}

// Returns false if a writer kept the record busy for max_tries attempts.
template <typename Record>
inline bool ReadConsistent(const Record& r, Record* out, int max_tries = 1000) {
  static_assert(std::is_trivially_destructible_v<Record>);
  for (int i = 0; i < max_tries; ++i) {
    uint32_t s0 = r.seq.load(std::memory_order_acquire);
    if (s0 & 1) continue;
    // Copy byte-wise: fields may be torn, which the re-check detects.
    std::memcpy(static_cast<void*>(out), static_cast<const void*>(&r),
                sizeof(Record));
    std::atomic_thread_fence(std::memory_order_acquire);
    uint32_t s1 = r.seq.load(std::memory_order_relaxed);
    if (s0 == s1) {
      out->seq.store(s0, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

// --- SPSC ring of fixed slots ----------------------------------------------

void InitRing(RingHeader* r, uint32_t slot_size, uint32_t slot_count);
inline uint8_t* RingSlot(RingHeader* r, uint64_t pos) {
  return reinterpret_cast<uint8_t*>(r + 1) +
         (pos & (r->slot_count - 1)) * uint64_t(r->slot_size);
}

// Producer side: Reserve returns a slot to fill or nullptr when full (and
// counts the drop); Commit publishes it.
inline uint8_t* RingReserve(RingHeader* r) {
  uint64_t head = r->head.load(std::memory_order_relaxed);
  uint64_t tail = r->tail.load(std::memory_order_acquire);
  if (head - tail >= r->slot_count) {
    r->dropped.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return RingSlot(r, head);
}
inline void RingCommit(RingHeader* r) {
  r->head.store(r->head.load(std::memory_order_relaxed) + 1,
                std::memory_order_release);
}

// Consumer side: Peek returns the oldest slot or nullptr; Pop releases it.
inline uint8_t* RingPeek(RingHeader* r) {
  uint64_t tail = r->tail.load(std::memory_order_relaxed);
  uint64_t head = r->head.load(std::memory_order_acquire);
  if (tail == head) return nullptr;
  return RingSlot(r, tail);
}
inline void RingPop(RingHeader* r) {
  r->tail.store(r->tail.load(std::memory_order_relaxed) + 1,
                std::memory_order_release);
}

// Convenience for packet rings: copies meta + data into one slot.
bool RingPushPacket(RingHeader* r, const PacketMeta& meta,
                    std::span<const uint8_t> data);
// Convenience for the update ring.
bool RingPushUpdate(RingHeader* r, UpdateNotice n);

}  // namespace vpn::shm
