#include "neighbour.h"

#include "lookup_table.h"

namespace vpn::dp {

NeighbourTable::NeighbourTable(uint32_t capacity) {
  uint32_t cap = 16;
  while (cap < capacity) cap <<= 1;
  mask_ = cap - 1;
  entries_.reset(new NeighEntry[cap]);
}

uint32_t NeighbourTable::Slot(uint32_t ip) const {
  return LookupTable::Hash(ip) & mask_;
}

bool NeighbourTable::Lookup(uint32_t ip, uint8_t mac_out[6]) const {
  uint32_t i = Slot(ip);
  for (uint32_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
    const NeighEntry& e = entries_[i];
    for (int tries = 0; tries < 64; ++tries) {
      uint32_t s0 = e.seq.load(std::memory_order_acquire);
      if (s0 & 1) continue;
      uint32_t eip = e.ip;
      NeighState st = e.state;
      uint8_t mac[6];
      std::memcpy(mac, e.mac, 6);
      std::atomic_thread_fence(std::memory_order_acquire);
      if (e.seq.load(std::memory_order_relaxed) != s0) continue;
      if (st == NeighState::kFree) return false;
      if (eip != ip) break;  // next slot
      if (st != NeighState::kReachable && st != NeighState::kStale) return false;
      std::memcpy(mac_out, mac, 6);
      return true;
    }
  }
  return false;
}

NeighEntry* NeighbourTable::Find(uint32_t ip) {
  uint32_t i = Slot(ip);
  for (uint32_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
    NeighEntry& e = entries_[i];
    if (e.state == NeighState::kFree) return nullptr;
    if (e.ip == ip) return &e;
  }
  return nullptr;
}

NeighEntry* NeighbourTable::FindOrCreate(uint32_t ip, uint8_t port) {
  uint32_t i = Slot(ip);
  for (uint32_t n = 0; n < mask_; ++n, i = (i + 1) & mask_) {
    NeighEntry& e = entries_[i];
    if (e.state == NeighState::kFree) {
      uint32_t s = e.seq.load(std::memory_order_relaxed);
      e.seq.store(s + 1, std::memory_order_relaxed);
      std::atomic_thread_fence(std::memory_order_release);
      e.ip = ip;
      e.port = port;
      e.state = NeighState::kIncomplete;
      e.seq.store(s + 2, std::memory_order_release);
      return &e;
    }
    if (e.ip == ip) return &e;
  }
  return nullptr;  // keep one free slot so reader probes terminate
}

void NeighbourTable::Learn(NeighEntry* e, const uint8_t mac[6], uint64_t now) {
  uint32_t s = e->seq.load(std::memory_order_relaxed);
  e->seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(e->mac, mac, 6);
  e->state = NeighState::kReachable;
  e->seq.store(s + 2, std::memory_order_release);
  e->confirmed_tsc = now;
  e->requests = 0;
}

void NeighbourTable::SetState(NeighEntry* e, NeighState st) {
  uint32_t s = e->seq.load(std::memory_order_relaxed);
  e->seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  e->state = st;
  e->seq.store(s + 2, std::memory_order_release);
}

}  // namespace vpn::dp
