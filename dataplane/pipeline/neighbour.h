// IPv4 neighbour (ARP) table: written only by the housekeeping lcore, read by
// workers without locks through a per-entry seqlock. Entries are never moved,
// so a reader that found an address keeps probing the same slot.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

namespace vpn::dp {

enum class NeighState : uint8_t { kFree = 0, kIncomplete = 1, kReachable = 2, kStale = 3 };

struct alignas(32) NeighEntry {
  std::atomic<uint32_t> seq{0};
  uint32_t ip = 0;  // network order; fixed once the slot is taken
  uint8_t mac[6] = {};
  NeighState state = NeighState::kFree;
  uint8_t port = 0;
  uint64_t confirmed_tsc = 0;  // writer-only bookkeeping below
  uint64_t requested_tsc = 0;
  uint32_t requests = 0;
};

class NeighbourTable {
 public:
  explicit NeighbourTable(uint32_t capacity = 4096);

  // Reader: copies the MAC of a reachable or stale entry. Lock-free.
  bool Lookup(uint32_t ip, uint8_t mac_out[6]) const;

  // Writer side (housekeeping only).
  // Returns the entry for ip, creating an incomplete one; nullptr when full.
  NeighEntry* FindOrCreate(uint32_t ip, uint8_t port);
  NeighEntry* Find(uint32_t ip);
  void Learn(NeighEntry* e, const uint8_t mac[6], uint64_t now_tsc);
  void SetState(NeighEntry* e, NeighState s);
  uint32_t capacity() const { return mask_ + 1; }
  NeighEntry& at(uint32_t i) { return entries_[i]; }

 private:
  uint32_t Slot(uint32_t ip) const;
  uint32_t mask_;
  std::unique_ptr<NeighEntry[]> entries_;
};

}  // namespace vpn::dp
