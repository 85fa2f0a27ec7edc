// Memory for the runtime objects the workers chase per packet (SaRuntime,
// SessionRuntime, the ESP engine's SA contexts): fixed-size blocks carved
// from 2 MiB-aligned anonymous mappings advised MADV_HUGEPAGE.
//
// Why: with 100k sessions each packet reaches ~7 objects at random
// addresses; with 4 KiB pages every one is a TLB miss as well as a cache
// miss (a page walk, nested under a hypervisor). Transparent huge pages
// (the kernel's "madvise" mode, Debian's default) put ~500 SA contexts in
// one TLB entry: docs/perf.md measures the difference.
//
// Only the single runtime writer (housekeeping, installers) allocates and
// frees, never the packet path; a mutex covers tests that build several
// runtimes in parallel. Blocks are 64-byte aligned; memory goes back to the
// arena's free lists, not to the system. When a mapping cannot be made the
// allocation falls back to the ordinary heap (and is freed there).
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace vpn::dp {

void* HugeArenaAlloc(std::size_t size);
void HugeArenaFree(void* p, std::size_t size);
// Bytes handed out from huge mappings and not freed (tests, logs).
std::size_t HugeArenaBytesInUse();

// Arrays (the runtime's slot and lookup tables): value-initialised T[n].
template <class T>
struct ArenaArrayDelete {
  std::size_t n = 0;
  void operator()(T* p) const {
    for (std::size_t i = 0; i < n; ++i) p[i].~T();
    HugeArenaFree(p, n * sizeof(T));
  }
};
template <class T>
using ArenaArray = std::unique_ptr<T[], ArenaArrayDelete<T>>;
template <class T>
ArenaArray<T> MakeArenaArray(std::size_t n) {
  T* p = static_cast<T*>(HugeArenaAlloc(n * sizeof(T)));
  for (std::size_t i = 0; i < n; ++i) new (p + i) T();
  return ArenaArray<T>(p, ArenaArrayDelete<T>{n});
}

// Class-scope operators for the runtime object types.
#define VPN_HUGE_ARENA_OPERATORS(Type)                                              \
  static void* operator new(std::size_t n) { return ::vpn::dp::HugeArenaAlloc(n); } \
  static void* operator new(std::size_t n, std::align_val_t) {                      \
    return ::vpn::dp::HugeArenaAlloc(n);                                            \
  }                                                                                 \
  static void operator delete(void* p, std::size_t n) { ::vpn::dp::HugeArenaFree(p, n); } \
  static void operator delete(void* p, std::size_t n, std::align_val_t) {           \
    ::vpn::dp::HugeArenaFree(p, n);                                                 \
  }

}  // namespace vpn::dp
