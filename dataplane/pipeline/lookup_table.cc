#include "lookup_table.h"

namespace vpn::dp {

LookupTable::LookupTable(uint32_t capacity_hint) {
  uint32_t cap = 16;
  while (cap < capacity_hint * 2u + 16) cap <<= 1;
  mask_ = cap - 1;
  slots_ = MakeArenaArray<std::atomic<uint64_t>>(cap);
  for (uint32_t i = 0; i < cap; ++i)
    slots_[i].store(kEmpty, std::memory_order_relaxed);
}

bool LookupTable::Insert(uint32_t key, uint32_t value) {
  const uint64_t entry = uint64_t(key) << 32 | value;
  uint32_t i = Hash(key) & mask_;
  uint32_t first_free = kNotFound;
  for (uint32_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
    uint64_t e = slots_[i].load(std::memory_order_relaxed);
    if (e == kEmpty) {
      if (first_free == kNotFound) first_free = i;
      break;
    }
    if (uint32_t(e) == kTombstoneValue) {
      if (first_free == kNotFound) first_free = i;
      continue;
    }
    if (uint32_t(e >> 32) == key) {
      slots_[i].store(entry, std::memory_order_release);
      return true;
    }
  }
  if (first_free == kNotFound) return false;
  uint64_t old = slots_[first_free].load(std::memory_order_relaxed);
  if (old != kEmpty) --tombstones_;
  // Keep one empty slot at least, or readers could probe forever.
  if (old == kEmpty && live_ + tombstones_ + 1 >= mask_) return false;
  slots_[first_free].store(entry, std::memory_order_release);
  ++live_;
  return true;
}

bool LookupTable::Erase(uint32_t key) {
  uint32_t i = Hash(key) & mask_;
  for (uint32_t n = 0; n <= mask_; ++n, i = (i + 1) & mask_) {
    uint64_t e = slots_[i].load(std::memory_order_relaxed);
    if (e == kEmpty) return false;
    if (uint32_t(e >> 32) == key && uint32_t(e) != kTombstoneValue) {
      slots_[i].store(uint64_t(key) << 32 | kTombstoneValue,
                      std::memory_order_release);
      --live_;
      ++tombstones_;
      return true;
    }
  }
  return false;
}

void LookupTable::CopyTo(LookupTable* out) const {
  for (uint32_t i = 0; i <= mask_; ++i) {
    uint64_t e = slots_[i].load(std::memory_order_relaxed);
    if (e != kEmpty && uint32_t(e) != kTombstoneValue)
      out->Insert(uint32_t(e >> 32), uint32_t(e));
  }
}

}  // namespace vpn::dp
