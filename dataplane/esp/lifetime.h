// SA lifetime accounting (RFC 4301 4.4.2.1: soft and hard byte/packet
// limits).
//
// Outbound SAs are shared by every worker, so a chunk groups its jobs per SA
// and reserves the whole group's sequence numbers and bytes with one
// fetch_add each; each job then knows the counts "before" it and decides
// locally. The packet count is not a counter of its own: every reserved
// sequence number is one packet counted, so packets before a job = its
// sequence number - 1 (numbers start at 1, RFC 4303 3.3.3).
//
// Inbound SAs belong to one worker (esp.h), so their counters are written
// by that worker only: plain relaxed loads and stores per verified packet
// (CountInbound), no locked read-modify-write and no grouping. They stay
// std::atomic so other threads may read them without a data race.
//
// Semantics: with a hard limit of N packets the first N packets pass and later
// ones get esp_lifetime_expired (same for bytes: a packet passes while the
// bytes before it are below the limit). The soft event fires on the packet
// that reaches the soft limit. Each event is reported on exactly one job per
// SA (claimed with an atomic fetch_or).
#pragma once

#include <atomic>
#include <cstdint>

#include "esp.h"

namespace vpn::esp::detail {

inline void ClaimEvent(SaContext& sa, uint8_t bit, uint8_t* events) {
  std::atomic<uint8_t>& fired = sa.params.events_fired;
  if ((fired.load(std::memory_order_relaxed) & bit) != 0) return;
  if ((fired.fetch_or(bit, std::memory_order_relaxed) & bit) == 0) {
    *events |= bit;
  }
}

// Before any crypto: an SA already past its hard limit drops at once.
inline bool HardExpired(const SaContext& sa) {
  const SaCounters& c = sa.counters;
  return c.packets.load(std::memory_order_relaxed) >= c.hard_packets ||
         c.bytes.load(std::memory_order_relaxed) >= c.hard_bytes;
}

inline Reason LifetimeStep(SaContext& sa, uint64_t packets_before,
                           uint64_t bytes_before, uint32_t len,
                           uint8_t* events) {
  const SaCounters& c = sa.counters;
  if (packets_before >= c.hard_packets || bytes_before >= c.hard_bytes) {
    ClaimEvent(sa, kEventHardLifetime, events);
    return Reason::k_esp_lifetime_expired;
  }
  if (packets_before + 1 >= c.soft_packets ||
      bytes_before + len >= c.soft_bytes) {
    ClaimEvent(sa, kEventSoftLifetime, events);
  }
  return kOk;
}

// One verified inbound packet of len payload bytes (owner worker only).
inline Reason CountInbound(SaContext& sa, uint32_t len, uint8_t* events) {
  SaCounters& c = sa.counters;
  const uint64_t packets = c.packets.load(std::memory_order_relaxed);
  const uint64_t bytes = c.bytes.load(std::memory_order_relaxed);
  c.packets.store(packets + 1, std::memory_order_relaxed);
  c.bytes.store(bytes + len, std::memory_order_relaxed);
  return LifetimeStep(sa, packets, bytes, len, events);
}

// The distinct SAs of one outbound chunk, with their reservations.
class SaGroups {
 public:
  struct Group {
    SaContext* sa;
    uint32_t count;        // jobs of this SA in the chunk
    uint32_t used;         // jobs already given their slot
    uint64_t bytes;        // their payload bytes
    uint64_t used_bytes;
    uint64_t seq_base;     // first sequence number reserved
    uint64_t bytes_base;   // byte counter before this chunk
  };

  // Index of sa's group, created if new. A chunk may carry as many SAs as
  // jobs (many sessions: every packet another SA), so the groups are found
  // through a small open-addressing table on the SA's address rather than a
  // linear search (quadratic in the chunk).
  uint16_t Add(SaContext* sa, uint32_t len) {
    uint16_t g = last_;
    if (n_ == 0 || groups_[g].sa != sa) {
      const uintptr_t a = reinterpret_cast<uintptr_t>(sa) >> 6;  // 64-B aligned
      uint32_t h = uint32_t((a * 0x9E3779B97F4A7C15ull) >> 56) & (kHashSize - 1);
      for (;; h = (h + 1) & (kHashSize - 1)) {
        const uint16_t e = hash_[h];
        if (e == 0) {
          g = n_++;
          groups_[g] = Group{sa, 0, 0, 0, 0, 0, 0};
          hash_[h] = uint16_t(g + 1);
          break;
        }
        if (groups_[e - 1].sa == sa) {
          g = uint16_t(e - 1);
          break;
        }
      }
      last_ = g;
    }
    groups_[g].count++;
    groups_[g].bytes += len;
    return g;
  }

  // Two fetch_adds per SA: sequence numbers (unique per SA whatever worker
  // sends) and bytes.
  void Reserve() {
    for (uint16_t g = 0; g < n_; ++g) {
      Group& gr = groups_[g];
      SaCounters& c = gr.sa->counters;
      gr.seq_base = c.next_seq.fetch_add(gr.count, std::memory_order_relaxed);
      gr.bytes_base = c.bytes.fetch_add(gr.bytes, std::memory_order_relaxed);
    }
  }

  // The next job of group g, in burst order: its sequence number and the
  // lifetime counts before it.
  void Next(uint16_t g, uint32_t len, uint64_t* seq, uint64_t* packets_before,
            uint64_t* bytes_before) {
    Group& gr = groups_[g];
    *seq = gr.seq_base + gr.used;
    *packets_before = *seq - 1;
    *bytes_before = gr.bytes_base + gr.used_bytes;
    gr.used++;
    gr.used_bytes += len;
  }

 private:
  static constexpr uint32_t kMaxGroups = Engine::kChunk;
  static constexpr uint32_t kHashSize = 128;  // power of two >= 2 * kMaxGroups
  Group groups_[kMaxGroups];
  uint16_t hash_[kHashSize] = {};  // group index + 1; 0 = empty
  uint16_t n_ = 0;
  uint16_t last_ = 0;
};

}  // namespace vpn::esp::detail
