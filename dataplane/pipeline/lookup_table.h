// Open-addressing map from a 32-bit key to a 32-bit index with one writer
// (the housekeeping lcore) and any number of lock-free readers (workers).
//
// Each slot is one 64-bit atomic word (key << 32 | value), so a reader sees a
// slot either before or after a store, never half of it. Deletion leaves a
// tombstone so probe chains stay intact; the writer rebuilds into a fresh
// table (published by pointer swap, old one freed after an RCU grace period)
// when tombstones pile up. Readers must re-validate what the value points to
// (the record may have changed between lookup and use) -- the runtime does.
#pragma once

#include "huge_arena.h"

#include <atomic>
#include <cstdint>
#include <memory>

namespace vpn::dp {

class LookupTable {
 public:
  static constexpr uint32_t kNotFound = 0xFFFFFFFFu;
  // Values must stay below kTombstoneValue.
  static constexpr uint32_t kTombstoneValue = 0xFFFFFFFEu;

  // capacity_hint: the most entries ever live; the table is sized 2x..4x.
  explicit LookupTable(uint32_t capacity_hint);

  uint32_t Find(uint32_t key) const {
    uint32_t i = Hash(key) & mask_;
    for (uint32_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
      uint64_t e = slots_[i].load(std::memory_order_acquire);
      if (e == kEmpty) return kNotFound;
      if (uint32_t(e >> 32) == key && uint32_t(e) != kTombstoneValue)
        return uint32_t(e);
    }
    return kNotFound;
  }

  // Hint for a Find(key) soon: fetches the key's first slot into cache.
  void Prefetch(uint32_t key) const { __builtin_prefetch(&slots_[Hash(key) & mask_]); }

  // Writer side. Insert replaces an existing mapping of the key. Returns
  // false when the table is full (callers size it so this cannot happen).
  bool Insert(uint32_t key, uint32_t value);
  bool Erase(uint32_t key);
  uint32_t size() const { return live_; }
  uint32_t tombstones() const { return tombstones_; }
  // True when a rebuild (copy into a new table) would pay off.
  bool NeedsRebuild() const { return tombstones_ > (mask_ + 1) / 4; }
  // Copies live entries into `out` (a fresh table of the same hint).
  void CopyTo(LookupTable* out) const;

  static uint32_t Hash(uint32_t k) {
    // Murmur3 finaliser: tunnel/session ids and pool addresses are dense.
    k ^= k >> 16;
    k *= 0x85ebca6bu;
    k ^= k >> 13;
    k *= 0xc2b2ae35u;
    k ^= k >> 16;
    return k;
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  uint32_t mask_;
  uint32_t live_ = 0;
  uint32_t tombstones_ = 0;
  ArenaArray<std::atomic<uint64_t>> slots_;  // huge pages (huge_arena.h)
};

}  // namespace vpn::dp
