#include "huge_arena.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

namespace vpn::dp {
namespace {

constexpr std::size_t kHuge = std::size_t{2} << 20;
constexpr std::size_t kAlign = 64;

struct SizeClass {
  std::vector<void*> free;
  uint8_t* next = nullptr;  // bump pointer in the current mapping
  uint8_t* end = nullptr;
};

struct Arena {
  std::mutex mu;
  std::map<std::size_t, SizeClass> classes;  // by rounded block size
  std::vector<std::pair<uintptr_t, uintptr_t>> maps;  // [begin, end)
  std::size_t in_use = 0;

  bool Owns(const void* p) const {
    const auto a = reinterpret_cast<uintptr_t>(p);
    for (const auto& [b, e] : maps)
      if (a >= b && a < e) return true;
    return false;
  }
  // A 2 MiB-aligned mapping of `bytes` (a multiple of 2 MiB), or nullptr.
  uint8_t* Map(std::size_t bytes) {
    void* raw = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return nullptr;
    const auto a = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (a + kHuge - 1) & ~(kHuge - 1);
    // Trim to the aligned part so every huge page can be backed.
    if (aligned > a) munmap(raw, aligned - a);
    const uintptr_t tail = a + bytes + kHuge - (aligned + bytes);
    if (tail) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
    madvise(reinterpret_cast<void*>(aligned), bytes, MADV_HUGEPAGE);
    maps.push_back({aligned, aligned + bytes});
    return reinterpret_cast<uint8_t*>(aligned);
  }
};

Arena& TheArena() {
  static Arena* a = new Arena;  // never destroyed: objects may outlive main
  return *a;
}

std::size_t Round(std::size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

}  // namespace

void* HugeArenaAlloc(std::size_t size) {
  const std::size_t n = Round(size ? size : 1);
  Arena& a = TheArena();
  {
    std::lock_guard<std::mutex> lock(a.mu);
    SizeClass& c = a.classes[n];
    if (!c.free.empty()) {
      void* p = c.free.back();
      c.free.pop_back();
      a.in_use += n;
      return p;
    }
    if (c.next == nullptr || std::size_t(c.end - c.next) < n) {
      const std::size_t bytes = n > kHuge ? (n + kHuge - 1) & ~(kHuge - 1) : kHuge;
      c.next = a.Map(bytes);
      c.end = c.next ? c.next + bytes : nullptr;
    }
    if (c.next != nullptr) {
      void* p = c.next;
      c.next += n;
      a.in_use += n;
      return p;
    }
  }
  void* p = std::aligned_alloc(kAlign, n);
  if (p == nullptr) std::abort();  // as a failed new would (no exceptions)
  return p;
}

void HugeArenaFree(void* p, std::size_t size) {
  if (p == nullptr) return;
  const std::size_t n = Round(size ? size : 1);
  Arena& a = TheArena();
  {
    std::lock_guard<std::mutex> lock(a.mu);
    if (a.Owns(p)) {
      a.classes[n].free.push_back(p);
      a.in_use -= n;
      return;
    }
  }
  std::free(p);
}

std::size_t HugeArenaBytesInUse() {
  Arena& a = TheArena();
  std::lock_guard<std::mutex> lock(a.mu);
  return a.in_use;
}

}  // namespace vpn::dp
