#include "capture.h"

#include <atomic>
#include <cstring>
#include <vector>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include "vpn/log.h"
#include "vpn/shm_segment.h"

namespace vpn::dp {
namespace {

// The running capture. Housekeeping is the one writer: it clears `id`,
// stores the parameters, then publishes the new id (release). A reader loads
// id (acquire), the parameters, and id again: a changed id means the
// parameters may be mixed, so the frame is skipped.
struct CaptureState {
  std::atomic<uint32_t> id{0};
  std::atomic<uint32_t> port_mask{0};
  std::atomic<uint32_t> ip{0};
  std::atomic<uint32_t> snaplen{0};
  std::atomic<uint32_t> directions{0};
  std::atomic<uint32_t> max_pps{0};
  std::atomic<uint64_t> deadline_tsc{0};
};
CaptureState g_cap;

struct Params {
  uint32_t id, port_mask, ip, snaplen, directions, max_pps;
  uint64_t deadline;
};

bool Snapshot(Params* p) {
  p->id = g_cap.id.load(std::memory_order_acquire);
  if (!p->id) return false;
  p->port_mask = g_cap.port_mask.load(std::memory_order_relaxed);
  p->ip = g_cap.ip.load(std::memory_order_relaxed);
  p->snaplen = g_cap.snaplen.load(std::memory_order_relaxed);
  p->directions = g_cap.directions.load(std::memory_order_relaxed);
  p->max_pps = g_cap.max_pps.load(std::memory_order_relaxed);
  p->deadline = g_cap.deadline_tsc.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return g_cap.id.load(std::memory_order_relaxed) == p->id;
}

bool FrameMatches(const Params& p, const uint8_t* f, uint32_t len, uint8_t port, uint8_t dir) {
  if (!(p.directions & dir) || port >= 32 || !(p.port_mask & (1u << port))) return false;
  if (!p.ip) return true;
  // Ethernet II + IPv4 (RFC 791 3.1): source at 26, destination at 30.
  if (len < 34 || f[12] != 0x08 || f[13] != 0x00) return false;
  uint32_t src, dst;
  std::memcpy(&src, f + 26, 4);
  std::memcpy(&dst, f + 30, 4);
  return src == p.ip || dst == p.ip;
}

// One per (port, queue, direction); used only by the thread owning the queue.
struct Tap {
  uint16_t port_id;
  uint16_t queue;
  uint8_t port;     // index into Runtime::ports
  uint8_t thread;   // worker id = punt ring = counter block
  uint8_t direction;
  bool rx;
  shm::RingHeader* ring;
  shm::WorkerCounters* ctr;
  const void* cb;   // DPDK's handle, for removal
  // Token bucket for max_pps, reset when the capture id changes.
  uint32_t bucket_id = 0;
  uint64_t bucket_tsc = 0;
  uint64_t tokens = 0;
};
std::vector<Tap*> g_taps;
uint64_t g_tsc_hz = 1;

void Count(Tap* t, Reason r) { ++t->ctr->reason[static_cast<uint32_t>(r)]; }

bool TakeToken(Tap* t, const Params& p, uint64_t now) {
  if (t->bucket_id != p.id) {
    t->bucket_id = p.id;
    t->bucket_tsc = now;
    t->tokens = p.max_pps;  // one second's worth to start
  }
  const uint64_t elapsed = now - t->bucket_tsc;
  const uint64_t add = elapsed * p.max_pps / g_tsc_hz;
  if (add) {
    t->tokens = std::min<uint64_t>(t->tokens + add, p.max_pps);
    t->bucket_tsc = now;
  }
  if (!t->tokens) return false;
  --t->tokens;
  return true;
}

void TapBurst(Tap* t, rte_mbuf** pkts, uint16_t n) {
  Params p;
  if (!g_cap.id.load(std::memory_order_relaxed) || !Snapshot(&p)) return;
  const uint64_t now = rte_rdtsc();
  if (now >= p.deadline) return;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
    if (!FrameMatches(p, f, rte_pktmbuf_data_len(m), t->port, t->direction)) continue;
    // Keep half of the punt ring for the control traffic it exists for.
    const uint64_t used = t->ring->head.load(std::memory_order_relaxed) -
                          t->ring->tail.load(std::memory_order_acquire);
    if (used >= t->ring->slot_count / 2 || !TakeToken(t, p, now)) {
      Count(t, Reason::k_capture_skipped);
      continue;
    }
    uint8_t* slot = shm::RingReserve(t->ring);
    if (!slot) {
      Count(t, Reason::k_capture_skipped);
      continue;
    }
    const uint32_t len = rte_pktmbuf_pkt_len(m);
    const uint32_t cut = std::min<uint32_t>({len, p.snaplen, shm::kMaxPacketData});
    shm::PacketMeta meta{};
    meta.kind = static_cast<uint16_t>(shm::PuntKind::kCapture);
    meta.port = t->port;
    meta.worker = t->thread;
    meta.length = uint16_t(cut);
    meta.flags = t->rx ? 0 : shm::kMetaCaptureTx;
    meta.sa_index = len;
    meta.session_index = p.id;
    meta.tsc = now;
    uint8_t* data = slot + sizeof meta;
    const void* src = rte_pktmbuf_read(m, 0, cut, data);  // multi-segment safe
    if (src && src != data) std::memcpy(data, src, cut);
    std::memcpy(slot, &meta, sizeof meta);
    shm::RingCommit(t->ring);
    Count(t, Reason::k_capture_copied);
  }
}

uint16_t RxTap(uint16_t, uint16_t, rte_mbuf* pkts[], uint16_t n, uint16_t, void* user) {
  if (n) TapBurst(static_cast<Tap*>(user), pkts, n);
  return n;
}

uint16_t TxTap(uint16_t, uint16_t, rte_mbuf* pkts[], uint16_t n, void* user) {
  if (n) TapBurst(static_cast<Tap*>(user), pkts, n);
  return n;
}

void Stop() { g_cap.id.store(0, std::memory_order_release); }

}  // namespace

bool InstallCaptureTaps(DataplaneShared* sh) {
  g_tsc_hz = rte_get_tsc_hz() ? rte_get_tsc_hz() : 1;
  const shm::Header* h = sh->header;
  bool ok = true;
  for (uint32_t p = 0; p < sh->rt->n_ports; ++p) {
    const uint16_t pid = sh->rt->ports[p].port_id;
    for (int dir = 0; dir < 2; ++dir) {
      const bool rx = dir == 0;
      const uint16_t nq = rx ? sh->n_rxq[p] : sh->n_txq[p];
      for (uint16_t q = 0; q < nq && q <= sh->n_workers; ++q) {
        Tap* t = new Tap{};
        t->port_id = pid;
        t->queue = q;
        t->port = uint8_t(p);
        t->thread = uint8_t(q);
        t->direction = rx ? shm::kCaptureRx : shm::kCaptureTx;
        t->rx = rx;
        t->ring = reinterpret_cast<shm::RingHeader*>(sh->shm_base + h->punt_rings_offset +
                                                     q * h->punt_ring_stride);
        t->ctr = reinterpret_cast<shm::WorkerCounters*>(sh->shm_base +
                                                        h->worker_counters_offset) + q;
        t->cb = rx ? static_cast<const void*>(rte_eth_add_rx_callback(pid, q, RxTap, t))
                   : static_cast<const void*>(rte_eth_add_tx_callback(pid, q, TxTap, t));
        if (!t->cb) {
          VPN_LOG(dataplane, kWarn, "capture: cannot hook %s queue %u of port %u", rx ? "rx" : "tx",
                  q, p);
          delete t;
          ok = false;
          continue;
        }
        g_taps.push_back(t);
      }
    }
  }
  return ok;
}

void RemoveCaptureTaps() {
  Stop();
  for (Tap* t : g_taps) {
    // Workers are joined: no callback runs, so DPDK's handle can go too.
    if (t->rx) {
      auto* cb = static_cast<const rte_eth_rxtx_callback*>(t->cb);
      if (rte_eth_remove_rx_callback(t->port_id, t->queue, cb) == 0)
        rte_free(const_cast<rte_eth_rxtx_callback*>(cb));
    } else {
      auto* cb = static_cast<const rte_eth_rxtx_callback*>(t->cb);
      if (rte_eth_remove_tx_callback(t->port_id, t->queue, cb) == 0)
        rte_free(const_cast<rte_eth_rxtx_callback*>(cb));
    }
    delete t;
  }
  g_taps.clear();
}

Reason ApplyCaptureRequest(const shm::PacketMeta& meta, const uint8_t* data, uint32_t n_ports) {
  shm::CaptureRequest req;
  if (meta.length < sizeof req) return Reason::k_inject_bad;
  std::memcpy(&req, data, sizeof req);
  if (req.op == shm::kCaptureStop) {
    // Stop only the named capture (0: any), so a late stop of an old
    // capture cannot end a newer one.
    if (!req.id || req.id == g_cap.id.load()) Stop();
    VPN_LOG(dataplane, kInfo, "capture %u stopped", req.id);
    return Reason::k_inject_sent;
  }
  const uint32_t valid_ports = n_ports >= 32 ? ~0u : (1u << n_ports) - 1;
  if (req.op != shm::kCaptureStart || !req.id || !req.snaplen || !req.max_pps ||
      !req.duration_ms || !(req.port_mask & valid_ports) ||
      !(req.directions & (shm::kCaptureRx | shm::kCaptureTx))) {
    return Reason::k_inject_bad;
  }
  Stop();
  g_cap.port_mask.store(req.port_mask & valid_ports, std::memory_order_relaxed);
  g_cap.ip.store(req.ip, std::memory_order_relaxed);
  g_cap.snaplen.store(std::min<uint32_t>(req.snaplen, shm::kMaxPacketData),
                      std::memory_order_relaxed);
  g_cap.directions.store(req.directions, std::memory_order_relaxed);
  g_cap.max_pps.store(req.max_pps, std::memory_order_relaxed);
  g_cap.deadline_tsc.store(rte_rdtsc() + uint64_t(req.duration_ms) * rte_get_tsc_hz() / 1000,
                           std::memory_order_relaxed);
  g_cap.id.store(req.id, std::memory_order_release);
  VPN_LOG(dataplane, kInfo, "capture %u started: ports 0x%x, %u ms, snaplen %u, %u pps", req.id,
          req.port_mask, req.duration_ms, req.snaplen, req.max_pps);
  return Reason::k_inject_sent;
}

void ExpireCapture(uint64_t now_tsc) {
  const uint32_t id = g_cap.id.load(std::memory_order_relaxed);
  if (id && now_tsc >= g_cap.deadline_tsc.load(std::memory_order_relaxed)) {
    Stop();
    VPN_LOG(dataplane, kInfo, "capture %u reached its deadline", id);
  }
}

bool CaptureMatches(const uint8_t* frame, uint32_t len, uint8_t port, uint8_t direction) {
  Params p;
  return Snapshot(&p) && FrameMatches(p, frame, len, port, direction);
}

uint32_t ActiveCaptureId() { return g_cap.id.load(); }

}  // namespace vpn::dp
