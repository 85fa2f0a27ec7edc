// The dataplane's runtime view of the shared-memory tables, built by ONE
// writer (the housekeeping lcore, RuntimeWriter) and read by workers without
// locks: records are copied out of shm (seqlock) into immutable runtime
// objects, published by pointer, and retired only after an RCU grace period
// (every worker passed a quiescent point), so a worker may hold a pointer for
// the whole of one poll-loop iteration.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "huge_arena.h"
#include "lookup_table.h"
#include "neighbour.h"
#include "vpn/config.h"
#include "vpn/shm_abi.h"

namespace vpn::dp {

class CryptoSa;  // crypto_adapter.h: the esp engine's per-SA context
}  // namespace vpn::dp
namespace vpn::esp {
struct SaContext;  // esp.h
}  // namespace vpn::esp
namespace vpn::dp {

struct PortInfo {
  uint16_t port_id = 0;      // DPDK port id
  config::PortRole role = config::PortRole::kWan;
  uint32_t addr = 0;         // network order
  uint32_t netmask = 0;      // network order
  uint32_t gateway = 0;      // network order, 0 = none
  uint16_t mtu = 1500;
  bool proxy_arp = false;
  uint8_t mac[6] = {};
  bool InSubnet(uint32_t ip_no) const { return ((ip_no ^ addr) & netmask) == 0; }
};

struct RouteEntry {
  uint32_t prefix = 0;   // network order, masked
  uint32_t netmask = 0;  // network order
  uint8_t len = 0;
  uint32_t via = 0;      // network order; 0 = directly connected
  uint8_t port = 0;      // index into Runtime::ports
};

struct PoolRange {
  uint32_t first = 0, last = 0;  // host order, inclusive
};

struct SessionRuntime;

// Immutable once published, except the lifetime punt latches and the
// session hints. Hot/cold split: the first cache line holds everything the
// per-packet path reads (EspCollect, SendL2tp, EspInDone/EspOutDone, the
// prefetch stages); the rest is for the writer. With 100k sessions every
// record is a cache (and TLB) miss, so one line per SA matters (docs/perf.md).
struct alignas(64) SaRuntime {
  // --- hot ---
  uint32_t index = 0;
  uint32_t generation = 0;  // of the record: the counter row's owner
  uint32_t spi = 0;
  shm::SaDir dir = shm::SaDir::kInbound;
  shm::Encap encap = shm::Encap::kNone;
  uint16_t local_port = 0, peer_port = 0;    // network order
  uint32_t local_ip = 0, peer_ip = 0;        // network order
  // The engine's context (crypto->ctx), or nullptr: no SA usable.
  esp::SaContext* ctx = nullptr;
  // Inbound: the session slot whose L2TP data arrives through this SA
  // (writer-maintained, RuntimeWriter::ApplySession), or kInvalidIndex. Only
  // a hint for loading it early and for skipping the session hash lookup:
  // the reader re-checks the session's ids and SessionAcceptsSa.
  mutable std::atomic<uint32_t> session_hint{shm::kInvalidIndex};
  // --- cold ---
  alignas(64) uint64_t soft_bytes = 0, hard_bytes = 0, soft_packets = 0, hard_packets = 0;
  std::atomic<uint8_t> soft_punted{0};
  std::atomic<uint8_t> hard_punted{0};
  // Shared with the SaRuntime this one replaced when only addresses or
  // lifetimes changed (e.g. a NAT rebinding), so replay state survives.
  std::shared_ptr<CryptoSa> crypto;
  shm::SaRecord snapshot{};    // writer: detects real changes
  VPN_HUGE_ARENA_OPERATORS(SaRuntime)
};

// One cache line: everything the per-packet path reads.
struct alignas(64) SessionRuntime {
  uint32_t index = 0;
  uint32_t generation = 0;  // of the record: the counter row's owner
  uint16_t local_tunnel_id = 0, local_session_id = 0;
  uint16_t peer_tunnel_id = 0, peer_session_id = 0;
  uint32_t inbound_sa = shm::kInvalidIndex;
  // The other inbound SA during a phase 2 rekey overlap (shm_abi.h), or
  // kInvalidIndex.
  uint32_t inbound_sa_alt = shm::kInvalidIndex;
  uint32_t outbound_sa = shm::kInvalidIndex;
  uint32_t assigned_ip = 0;  // network order
  uint32_t peer_ip = 0;      // network order
  uint16_t peer_port = 0;    // network order
  uint16_t mru = 1400;
  uint8_t flags = 0;
  mutable std::atomic<uint16_t> ns_next{0};  // only with kSessionFlagSequencing
  // The outbound SA's published record (or nullptr), kept current by the
  // writer (RuntimeWriter::ApplySa / ApplySession): the LAN prefetch stages
  // fetch it from this line instead of waiting for the SA slot, a memory
  // latency less per burst with many sessions. Only prefetched, never
  // dereferenced (it may already be retired); the packet path reads the SA
  // through outbound_sa.
  mutable std::atomic<const SaRuntime*> out_sa_hint{nullptr};
  VPN_HUGE_ARENA_OPERATORS(SessionRuntime)
};
static_assert(sizeof(SessionRuntime) == 64);

inline uint32_t SessionKey(uint16_t tunnel_id, uint16_t session_id) {
  return uint32_t(tunnel_id) << 16 | session_id;
}

class Runtime {
 public:
  Runtime(uint32_t max_sas, uint32_t max_sessions);
  ~Runtime();

  // --- immutable after start-up ---
  PortInfo ports[shm::kMaxPorts];
  uint32_t n_ports = 0;
  int wan_port = -1;  // index into ports
  std::vector<RouteEntry> routes;  // longest prefix first
  std::vector<PoolRange> pools;
  bool require_ipsec = true;
  uint16_t tcp_mss_clamp = 0;  // 0: derive from MRU, 1: off, else the value
  uint32_t n_workers = 1;
  uint32_t replay_window = 1024;
  // Our end of the PPP links (config ppp.local_ip), network order: the
  // source of ICMP errors we send into a client's tunnel.
  uint32_t ppp_local_ip = 0;
  uint32_t max_sas, max_sessions;

  // --- readers (workers) ---
  const SaRuntime* Sa(uint32_t i) const {
    return i < max_sas ? sa_[i].load(std::memory_order_acquire) : nullptr;
  }
  // O(1): the SPI carries the slot (shm::SpiIndex); the full SPI and the
  // direction must match too.
  const SaRuntime* InboundSaBySpi(uint32_t spi) const {
    const SaRuntime* sa = Sa(shm::SpiIndex(spi));
    if (!sa || sa->spi != spi || sa->dir != shm::SaDir::kInbound) return nullptr;
    return sa;
  }
  // Whether L2TP data of session s may arrive through inbound SA sa_index
  // (kInvalidIndex: in clear).
  static bool SessionAcceptsSa(const SessionRuntime* s, uint32_t sa_index) {
    return s->inbound_sa == sa_index ||
           (s->inbound_sa_alt != shm::kInvalidIndex && s->inbound_sa_alt == sa_index);
  }
  // Writer: whether slot i holds a published object (epoch re-checks).
  bool SaLive(uint32_t i) const { return sa_[i].load(std::memory_order_relaxed) != nullptr; }
  bool SessionLive(uint32_t i) const {
    return sess_[i].load(std::memory_order_relaxed) != nullptr;
  }
  const SessionRuntime* Session(uint32_t i) const {
    return i < max_sessions ? sess_[i].load(std::memory_order_acquire) : nullptr;
  }
  const SessionRuntime* SessionById(uint16_t tid, uint16_t sid) const {
    uint32_t i = by_id_.load(std::memory_order_acquire)->Find(SessionKey(tid, sid));
    const SessionRuntime* s = Session(i);
    if (!s || s->local_tunnel_id != tid || s->local_session_id != sid) return nullptr;
    return s;
  }
  const SessionRuntime* SessionByIp(uint32_t ip_no) const {
    uint32_t i = by_ip_.load(std::memory_order_acquire)->Find(ip_no);
    const SessionRuntime* s = Session(i);
    if (!s || s->assigned_ip != ip_no) return nullptr;
    return s;
  }
  // Cache hints for the per-burst prefetch stages (perf): each stage loads
  // what the previous one prefetched and prefetches the next level.
  void PrefetchSaSlot(uint32_t i) const {
    if (i < max_sas) __builtin_prefetch(&sa_[i]);
  }
  void PrefetchSaRecord(uint32_t i) const {
    if (i < max_sas) __builtin_prefetch(sa_[i].load(std::memory_order_relaxed));
  }
  // The SA record (prefetched before): nullptr when the slot is empty.
  const SaRuntime* SaHint(uint32_t i) const {
    return i < max_sas ? sa_[i].load(std::memory_order_relaxed) : nullptr;
  }
  void PrefetchSessionKey(uint32_t key) const {
    by_id_.load(std::memory_order_acquire)->Prefetch(key);
  }
  // The slot index SessionById would look at (kNotFound possible); prefetches
  // its pointer.
  uint32_t PrefetchSessionSlot(uint32_t key) const {
    const uint32_t i = by_id_.load(std::memory_order_acquire)->Find(key);
    if (i < max_sessions) __builtin_prefetch(&sess_[i]);
    return i;
  }
  void PrefetchSessionIp(uint32_t ip_no) const {
    by_ip_.load(std::memory_order_acquire)->Prefetch(ip_no);
  }
  uint32_t PrefetchSessionSlotByIp(uint32_t ip_no) const {
    const uint32_t i = by_ip_.load(std::memory_order_acquire)->Find(ip_no);
    if (i < max_sessions) __builtin_prefetch(&sess_[i]);
    return i;
  }
  void PrefetchSessionRecord(uint32_t i) const {
    if (i < max_sessions) __builtin_prefetch(sess_[i].load(std::memory_order_relaxed));
  }
  bool InPool(uint32_t ip_no) const {
    uint32_t h = __builtin_bswap32(ip_no);
    for (const PoolRange& p : pools)
      if (h >= p.first && h <= p.last) return true;
    return false;
  }
  // Output port and next hop for a destination; false if no route.
  bool Route(uint32_t dst_no, uint8_t* port, uint32_t* next_hop_no) const {
    for (const RouteEntry& r : routes) {
      if (((dst_no ^ r.prefix) & r.netmask) == 0) {
        *port = r.port;
        *next_hop_no = r.via ? r.via : dst_no;
        return true;
      }
    }
    return false;
  }
  bool IsOurAddress(uint32_t ip_no) const {
    for (uint32_t i = 0; i < n_ports; ++i)
      if (ports[i].addr == ip_no) return true;
    return false;
  }

  NeighbourTable neigh;

 private:
  friend class RuntimeWriter;
  // Slot tables and objects live in huge pages (huge_arena.h).
  ArenaArray<std::atomic<SaRuntime*>> sa_;
  ArenaArray<std::atomic<SessionRuntime*>> sess_;
  std::atomic<LookupTable*> by_id_;
  std::atomic<LookupTable*> by_ip_;
};

// Builds the routes (connected subnets of every port plus configured routes,
// longest prefix first) and pools from the config. ports[] must be filled.
void BuildStaticTables(const config::Config& cfg, Runtime* rt);

// Grace periods: Start() returns a token; Done(token) is true once every
// reader passed a quiescent point after Start. Production uses rte_rcu_qsbr.
class GracePeriods {
 public:
  virtual ~GracePeriods() = default;
  virtual uint64_t Start() = 0;
  virtual bool Done(uint64_t token) = 0;
};

// Builds the crypto context for an SA record; nullptr when the algorithm is
// unsupported (the SA is then rejected and its packets drop as unknown SPI).
using CryptoFactory =
    std::function<std::shared_ptr<CryptoSa>(const shm::SaRecord&, uint32_t replay_window)>;

// The single writer of a Runtime.
class RuntimeWriter {
 public:
  RuntimeWriter(Runtime* rt, GracePeriods* gp, CryptoFactory factory);
  ~RuntimeWriter();

  // Re-reads record `i` from shm and updates the runtime view. Returns false
  // if the seqlock read kept failing (the caller retries later).
  bool ApplySa(uint32_t i, const shm::SaRecord& shm_rec);
  bool ApplySession(uint32_t i, const shm::SessionRecord& shm_rec);
  // Frees retired objects whose grace period ended. Returns how many remain.
  size_t Reclaim();
  // Counters for tests and logs.
  uint64_t sa_rebuilds() const { return sa_rebuilds_; }
  uint64_t session_rebuilds() const { return session_rebuilds_; }
  uint64_t rejected() const { return rejected_; }

 private:
  void RemoveSession(uint32_t i);
  void SetSessionHint(uint32_t sa, uint32_t from, uint32_t to);
  void SetOutboundHints(uint32_t session, const SaRuntime* sa);
  void MaybeRebuildTables();
  void Retire(std::function<void()> free_fn);

  Runtime* rt_;
  GracePeriods* gp_;
  CryptoFactory factory_;
  struct Retired {
    uint64_t token;
    std::function<void()> free_fn;
  };
  std::vector<Retired> retired_;
  // Inbound SA slot -> the session slot it carries (SaRuntime::session_hint
  // of the SA published later starts from here).
  std::vector<uint32_t> sa_session_;
  // Outbound SA slot -> the session slot sending through it (the session's
  // out_sa_hint follows the SA's republications).
  std::vector<uint32_t> out_sa_session_;
  uint64_t sa_rebuilds_ = 0, session_rebuilds_ = 0, rejected_ = 0;
};

}  // namespace vpn::dp
