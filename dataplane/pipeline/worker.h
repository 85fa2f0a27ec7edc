// One dataplane worker: polls one RX queue per port, runs the WAN and LAN
// pipelines over bursts, and transmits on its own TX queue per port. All
// per-packet state lives here; nothing on the packet path locks, allocates,
// logs or makes a system call.
//
// The same class, without ports, serves the housekeeping lcore (injected
// packets) and the perf harness (bursts fed from memory; see bench.h).
#pragma once

#include <atomic>
#include <cstdint>

#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "esp.h"
#include "runtime.h"
#include "vpn/reasons.h"
#include "vpn/shm_abi.h"

namespace vpn::dp {

class CryptoEngine;
struct EspJob;
struct Ipv4Hdr;  // net_headers.h

inline constexpr uint16_t kBurst = 32;
// Jumbo reassembly buffers (DataplaneShared::jumbo_pool): how many, and the
// room kept after the datagram for what encapsulation may append (ESP
// padding and ICV on a hairpin into another client's SA).
inline constexpr uint32_t kJumboMbufs = 1023;
inline constexpr uint32_t kJumboTailroom = 64;
inline constexpr uint32_t kMaxThreads = shm::kMaxWorkers;

// The polling worker (of n_workers) that owns an SA: decrypts its inbound
// packets (replay window single writer, esp.h) and encrypts what
// housekeeping injects into it. Flow steering by SPI would deliver an
// inbound SA's packets there; others hand them over. The control plane
// hands out inbound and outbound slots alternately, so inbound indices
// share their parity: the index is mixed (Fibonacci hashing) before it is
// scaled to the workers, or 2 workers would see one idle.
inline uint32_t SaOwner(uint32_t sa_index, uint32_t n_workers) {
  return uint32_t((uint64_t(uint32_t(sa_index * 0x9E3779B1u)) * n_workers) >> 32);
}

// An event a worker hands to housekeeping (single writer of the neighbour
// table): learn a MAC, or please resolve an address.
// kHold hands over a packet waiting for its next hop's MAC (RFC 1122
// 2.3.2.2: keep at least one such packet rather than drop it).
struct alignas(16) HkEvent {
  enum Kind : uint8_t { kLearn = 1, kResolve = 2, kHold = 3 };
  uint32_t ip;  // network order
  uint8_t mac[6];
  uint8_t port;
  uint8_t kind;
  uint8_t pad[4];
  rte_mbuf* m;  // kHold only
};
static_assert(sizeof(HkEvent) == 32);

// What every worker shares. Filled by the core before workers start.
struct DataplaneShared {
  Runtime* rt = nullptr;
  shm::Header* header = nullptr;
  uint8_t* shm_base = nullptr;
  rte_mempool* pool = nullptr;
  rte_rcu_qsbr* qsv = nullptr;
  uint32_t n_workers = 1;  // polling workers; housekeeping is id n_workers
  // Per port: how many RX queues (polled by workers 0..n_rxq-1) and TX queues
  // (worker w owns queue w when w < n_txq).
  uint16_t n_rxq[shm::kMaxPorts] = {};
  uint16_t n_txq[shm::kMaxPorts] = {};
  // ESP packets for the SA's owner worker (multi-producer, single consumer).
  rte_ring* handoff[kMaxThreads] = {};
  // Packets a thread without a TX queue of its own asks worker `w` to send
  // (mbuf->port holds the port index). Multi-producer, single consumer.
  rte_ring* tx_proxy[kMaxThreads] = {};
  // L2TP/PPP packets housekeeping injects into an ESP SA, handed to polling
  // worker `w` BEFORE encryption (multi-producer, single consumer). The ESP
  // sequence number (RFC 4303 3.3.3) must be taken where the packet is
  // transmitted: numbered on housekeeping and then queued in tx_proxy behind
  // a busy worker's burst, an injected packet left up to a few hundred
  // numbers behind its successors and the client's replay window (32 in
  // Linux/strongSwan) dropped it. mbuf hash.fdir.lo = outbound SA index,
  // hash.fdir.hi = its SPI (a slot reused meanwhile is detected).
  rte_ring* inject_handoff[kMaxThreads] = {};
  rte_ring* hk_events = nullptr;  // MP/SC of HkEvent
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> polling{0};  // workers inside their loop
  uint32_t idle_sleep_us = 0;  // sleep after a long idle spell; 0 = busy poll
  // WAN IPv4 fragments (reassembly.cc, docs/config.md "Fragments"): per
  // worker table bound and the time a datagram may take to complete.
  bool reassemble = true;  // config esp_fragments = "reassemble"
  uint32_t frag_entries = 1024;
  uint32_t frag_timeout_ms = 1000;
  // Largest reassembled IPv4 datagram (config fragment_max_datagram). Up to
  // what one ordinary buffer holds the datagram is linearised in place;
  // beyond, it is copied into a buffer of jumbo_pool (nullptr: none needed).
  uint32_t frag_max_datagram = 2034;
  rte_mempool* jumbo_pool = nullptr;
  // ICMP errors (time exceeded, fragmentation needed) per worker per second,
  // token bucket (RFC 1812 4.3.2.8); 0 = never send, count only.
  uint32_t icmp_rate = 100;
  uint32_t icmp_burst = 20;
};

// Per-thread, cache-aligned.
class alignas(64) Worker {
 public:
  Worker(DataplaneShared* sh, uint32_t id, CryptoEngine* crypto);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // The lcore main loop until sh->stop.
  void Run();
  // One iteration: poll everything once, flush TX. Returns packets handled.
  uint32_t PollOnce();
  // Polling workers (PollOnce): encrypts and sends what housekeeping handed
  // over through inject_handoff. Returns how many packets it took.
  uint32_t DrainInjectHandoff();

  // Pipelines (also the perf harness entry points). Consume the mbufs.
  void ProcessWan(rte_mbuf** pkts, uint16_t n, uint8_t port, bool count_rx = true);
  void ProcessLan(rte_mbuf** pkts, uint16_t n, uint8_t port);
  // Send everything buffered, including packets still in the crypto lanes.
  void Flush();
  // End of one poll iteration (PollOnce; the perf harness after each
  // burst): transmits, and completes the ESP jobs in flight when the poll
  // brought less than a full burst (the worker is keeping up: latency first)
  // or kDrainPolls polls after the last drain. In between, jobs stay in the
  // crypto lanes (esp.h streaming), which saves a lane flush per burst.
  void FlushPoll(uint32_t received);
  static constexpr uint32_t kDrainPolls = 16;
  // Completes every ESP job in flight (both directions).
  void DrainCrypto();
  // Whether ESP jobs are in flight (they hold SaRuntime pointers: no RCU
  // quiescent state may be reported meanwhile).
  bool CryptoBusy() const;
  // Reassembly upkeep (reassembly.cc): expires incomplete datagrams as of
  // TSC `now` (at most every 1/8 timeout) and frees the death row.
  // PollOnce calls it every loop; the perf harness and tests may too.
  void FragmentTick(uint64_t now);

  // Injected packets (housekeeping): build and send one. Returns a Reason of
  // severity info on success (inject_sent) or the drop reason.
  Reason Inject(const shm::PacketMeta& meta, const uint8_t* data);

  // The perf harness swaps transmission for counting.
  void set_discard_tx(bool v) { discard_tx_ = v; }
  // Tests: in discard mode, tap(ctx, port, m) sees every packet before it
  // is freed (pipeline_test compares the fast paths' bytes with the full
  // paths').
  using TxTap = void (*)(void* ctx, uint8_t port, const rte_mbuf* m);
  void set_tx_tap(TxTap tap, void* ctx) {
    tx_tap_ = tap;
    tx_tap_ctx_ = ctx;
  }
  uint64_t discarded_tx() const { return discarded_tx_; }
  uint32_t id() const { return id_; }
  // False when the fragment table could not be allocated (reassembly on).
  bool reassembly_ready() const {
    return !sh_->reassemble || id_ >= sh_->n_workers || frag_tbl_ != nullptr;
  }
  shm::WorkerCounters* counters() const { return ctr_; }
  // Sends an ARP request for ip on port (housekeeping).
  void SendArpRequest(uint8_t port, uint32_t ip);
  // Fills the Ethernet header for next_hop and sends; when the MAC is not
  // known yet the packet is handed to housekeeping to wait for the ARP reply
  // (arp_unresolved if that is impossible).
  void SendVia(uint8_t port, uint32_t next_hop, rte_mbuf* m);

 private:
  friend struct WanPath;
  friend struct LanPath;

  void Count(Reason r) { ++ctr_->reason[static_cast<uint32_t>(r)]; }
  void Drop(rte_mbuf* m, Reason r) {
    Count(r);
    rte_pktmbuf_free(m);
  }
  void DropSa(rte_mbuf* m, Reason r, uint32_t sa) {
    if (const SaRuntime* s = rt_->Sa(sa)) ++SaRow(*s).drops;
    Drop(m, r);
  }
  // This worker's counter row for an SA / session. The first count for a
  // new occupant of a reused slot zeroes the row (shm::CountersFor): each
  // worker resets only its own row, so every region keeps one writer.
  shm::SaCounters& SaRow(const SaRuntime& sa) {
    return shm::CountersFor(sa_ctr_[sa.index], sa.generation);
  }
  shm::SessionCounters& SessionRow(const SessionRuntime& s) {
    return shm::CountersFor(sess_ctr_[s.index], s.generation);
  }
  // Queues m for port (its Ethernet header complete).
  void Send(uint8_t port, rte_mbuf* m) {
    shm::PortCounters& pc = ctr_->ports[port];
    pc.tx_packets++;
    pc.tx_bytes += rte_pktmbuf_pkt_len(m);
    ctr_->tx_packets++;
    TxBuf& b = tx_[port];
    b.pkts[b.n++] = m;
    if (b.n == kBurst * 2) FlushTx();
  }
  void PostEvent(const HkEvent& ev);

  // Copies a punt to the control plane: meta + head + body (either may be
  // empty) and counts `r` (unless kCount), or why it could not: punt_too_large
  // or the ring-full reason of its kind. Does not free anything.
  void Punt(shm::PuntKind kind, shm::PacketMeta& meta, const uint8_t* head,
            uint16_t head_len, const uint8_t* body, uint16_t body_len, Reason r);

  static Reason PuntRingFullReason(shm::PuntKind kind) {
    switch (kind) {
      case shm::PuntKind::kIke: return Reason::k_punt_ring_full_ike;
      case shm::PuntKind::kL2tpControl: return Reason::k_punt_ring_full_l2tp_control;
      case shm::PuntKind::kPppControl: return Reason::k_punt_ring_full_ppp_control;
      default: return Reason::k_punt_ring_full;  // SA events (captures: capture_skipped)
    }
  }
  // Admission control (wan_input.cc): the last quarter of this worker's punt
  // ring is kept for established sessions' control traffic; a new IKE
  // exchange is not punted into it.
  static constexpr uint32_t kPuntReservedDivisor = 4;
  bool PuntRingCrowded() const {
    const uint64_t used = punt_ring_->head.load(std::memory_order_relaxed) -
                          punt_ring_->tail.load(std::memory_order_relaxed);
    return used >= punt_ring_->slot_count - punt_ring_->slot_count / kPuntReservedDivisor;
  }
  // Lifetime / sequence events from the engine go to the control plane.
  void PuntSaEvents(uint8_t events, uint32_t sa_index);

  // Fast paths (fast_path.cc): WanFast, EspInFast, LanFast and EspOutFast
  // take the common shape of a packet (no IP options, no fragment, the
  // per-poll memos already hold its route and neighbour, ...) in one pass
  // per header layer, and hand anything else, untouched, to the full path
  // (WanSlow, EspInSlow, LanSlow, EspOutSlow), which checks and counts every
  // case. The fast paths accept only what the full path would accept and
  // produce the same bytes.
  //
  // Counter runs: consecutive fast-path packets of one SA (or session) add
  // up here and reach their shm row once per run instead of once per packet.
  struct SaRun {
    const SaRuntime* sa = nullptr;
    uint64_t packets = 0, bytes = 0;
  };
  struct SessionRun {
    const SessionRuntime* s = nullptr;
    uint64_t packets = 0, bytes = 0;
  };
  void AddSaRun(SaRun& r, const SaRuntime* sa, uint32_t bytes) {
    if (r.sa != sa) {
      FlushSaRun(r);
      r.sa = sa;
    }
    r.packets++;
    r.bytes += bytes;
  }
  void FlushSaRun(SaRun& r) {
    if (r.packets && r.sa->index < sa_limit_) {
      shm::SaCounters& c = SaRow(*r.sa);
      c.packets += r.packets;
      c.bytes += r.bytes;
      c.last_seen_tsc = tsc_now_;
    }
    r.packets = r.bytes = 0;
  }
  // rx: client to network (L2tpInput), else network to client.
  template <bool rx>
  void AddSessionRun(SessionRun& r, const SessionRuntime* s, uint32_t bytes) {
    if (r.s != s) {
      FlushSessionRun<rx>(r);
      r.s = s;
    }
    r.packets++;
    r.bytes += bytes;
  }
  template <bool rx>
  void FlushSessionRun(SessionRun& r) {
    if (r.packets && r.s->index < sess_limit_) {
      shm::SessionCounters& c = SessionRow(*r.s);
      if (rx) {
        c.rx_packets += r.packets;
        c.rx_bytes += r.bytes;
      } else {
        c.tx_packets += r.packets;
        c.tx_bytes += r.bytes;
      }
    }
    r.packets = r.bytes = 0;
  }
  // The session L2TP data (tid, sid) arriving through sa (or nullptr: in
  // clear) belongs to: the poll's last session, the SA's session hint, else
  // the hash lookup. nullptr when none is installed. Callers still check
  // SessionAcceptsSa.
  const SessionRuntime* LookupSession(const SaRuntime* sa, uint16_t tid, uint16_t sid) {
    if (last_sess_ && last_sess_key_ == SessionKey(tid, sid)) return last_sess_;
    return LookupSessionNew(sa, tid, sid);
  }
  const SessionRuntime* LookupSessionNew(const SaRuntime* sa, uint16_t tid, uint16_t sid);
  // Outbound: the SA a session's packets are encrypted with, or nullptr when
  // the full path must decide (clear L2TP, missing or unusable SA).
  const SaRuntime* OutboundSaOf(const SessionRuntime* s) const {
    const SaRuntime* sa = rt_->Sa(s->outbound_sa);
    if (!sa || sa->dir != shm::SaDir::kOutbound || !sa->ctx) return nullptr;
    return sa;
  }
  // The MSS clamp of ToSession (lan_input.cc), for a TCP packet to s.
  void ClampForSession(uint8_t* ipb, const SessionRuntime* s);
  // The fast paths' per-job / per-packet work; false: use the full path.
  bool EspInFast(const esp::InboundJob& j, SaRun& sa_run, SessionRun& sess_run);
  bool EspOutFast(const esp::OutboundJob& j, SaRun& sa_run);
  void EspInSlow(const esp::InboundJob& j);
  void EspOutSlow(const esp::OutboundJob& j);
  SessionRun lan_sess_run_;  // LanFast's, flushed at the end of ProcessLan

  // WAN.
  void WanOne(rte_mbuf* m, uint8_t port);
  bool WanFast(rte_mbuf* m, uint8_t port);
  void WanSlow(rte_mbuf* m, uint8_t port);
  // IPv4 reassembly (reassembly.cc). Takes a fragment (m at Ethernet, ip
  // inside it, header valid); returns the whole datagram, linearised with a
  // valid header checksum, or nullptr (held, or dropped and counted).
  rte_mbuf* Reassemble(rte_mbuf* m, Ipv4Hdr* ip, uint32_t ihl, uint32_t total);
  void InitReassembly();  // constructor: the table, sized from sh_
  // A reassembled chain too large for one ordinary buffer, copied into a
  // jumbo buffer (consumes chain; nullptr and counted when impossible).
  rte_mbuf* CopyToJumbo(rte_mbuf* chain);
  void CountFragmentDrops(uint32_t from, Reason r);
  rte_ip_frag_tbl* frag_tbl_ = nullptr;
  rte_ip_frag_death_row frag_dr_{};
  uint32_t frag_max_frame_ = 0;     // bytes one mbuf can hold from Ethernet
  uint64_t frag_next_expiry_ = 0;   // TSC of the next expiry scan
  uint64_t frag_scan_cycles_ = 0;

  // ICMP errors (icmp.cc): token bucket on the TSC.
  bool IcmpAllowed();
  // Builds an ICMP error about the IPv4 packet at oip (RFC 792, RFC 1812
  // 4.3.2.3 quoting) from src; the mbuf starts at its IPv4 header with
  // headroom for Ethernet. nullptr when RFC 1812 4.3.2.7 forbids an error.
  rte_mbuf* BuildIcmpError(const Ipv4Hdr* oip, uint32_t olen, uint8_t type, uint8_t code,
                           uint16_t mtu, uint32_t src);
  // TTL expired: ICMP time exceeded to the sender (rate limited) and a
  // counted drop. from: the client session it came from (reply inside the
  // tunnel), or nullptr with lan_port (reply on that port to the frame's
  // Ethernet source).
  void SendIcmpOnPort(rte_mbuf* icmp, uint8_t port, const uint8_t* dst_mac);
  void TtlExpired(rte_mbuf* m, const Ipv4Hdr* ip, uint32_t len, const SessionRuntime* from,
                  int lan_port);
  uint64_t icmp_tokens_ = 0;      // in TSC cycles
  uint64_t icmp_last_tsc_ = 0;
  uint64_t icmp_cost_ = 0;        // cycles per token, 0 = ICMP off
  void ArpInput(rte_mbuf* m, uint8_t port);
  void EspCollect(rte_mbuf* m, uint8_t port, uint32_t esp_off, bool natt);
  void EspCollectInline(rte_mbuf* m, uint8_t port, uint32_t esp_off, bool natt);
  void EspFlush();
  // Finished ESP jobs (fast_path.cc), whichever call submitted them.
  void EspInDone(esp::InboundJob* done, uint16_t n);
  void EspOutDone(esp::OutboundJob* done, uint16_t n);
  // Pre-pass over a WAN burst (worker.cc, "prefetch stages"): for every
  // ESP packet, by SPI, the SA slot, record and crypto context, before
  // WanOne and the engine look at any of them.
  void PrefetchWanSas(rte_mbuf** pkts, uint16_t n);
  // Pass over decrypted jobs before EspInDone's packet loop (fast_path.cc):
  // loads each SA's counter row and the session it carries (slot, record,
  // counter row).
  void LoadInboundRecords(const esp::InboundJob* done, uint16_t n);
  // Same for a LAN burst: the session (by destination address), then, as
  // loads, its counter row and outbound SA record.
  void PrefetchLanSessions(rte_mbuf** pkts, uint16_t n);
  uint32_t polls_since_drain_ = 0;
  void FlushTx();
  // L2TP over UDP; the UDP header at udp_off. sa: inbound SA or nullptr.
  struct Outer {
    uint32_t src, dst;        // outer IPv4, network order
    uint16_t sport, dport;    // outer UDP ports (NAT-T) or 0
    uint32_t inner_src, inner_dst;
    uint16_t inner_sport, inner_dport;
    uint32_t sa_index;
    uint16_t flags;           // kMeta*
    uint8_t port;
  };
  void L2tpInput(rte_mbuf* m, uint8_t* udp, uint32_t udp_len, const Outer& o,
                 const SaRuntime* sa);
  void ForwardInner(rte_mbuf* m, uint8_t* ip, uint32_t len,
                    const SessionRuntime* from);

  // LAN.
  bool LanFast(rte_mbuf* m, uint8_t port);
  void LanSlow(rte_mbuf* m, uint8_t port);
  // Encapsulates an IPv4 packet (m starts at the IPv4 header) into session s
  // and sends it (clear L2TP, or via the ESP batch).
  // lan_port: where an ICMP "fragmentation needed" goes, or -1 (hairpin).
  void ToSession(rte_mbuf* m, const SessionRuntime* s, int lan_port);
  // The polling worker that encrypts injected packets of an SA, and decrypts
  // an inbound SA's packets (replay window single writer, esp.h).
  uint32_t OwnerOf(uint32_t sa_index) const { return SaOwner(sa_index, sh_->n_workers); }
  void SendIcmpFragNeeded(rte_mbuf* m, uint8_t port, uint16_t mtu);
  void ClampMss(uint8_t* ip, uint16_t mss);
  // Splits m (an IPv4 packet without DF) into fragments of at most mtu bytes
  // and encapsulates each into s. Consumes m.
  void FragmentToSession(rte_mbuf* m, const SessionRuntime* s, uint16_t mtu);
  void EncapToSession(rte_mbuf* m, const SessionRuntime* s);
  uint16_t ip_id_ = 0;

  // Outbound: prepends PPP, L2TP data header; m starts at the PPP payload.
  bool PrependL2tpData(rte_mbuf* m, const SessionRuntime* s, uint16_t ppp_proto,
                       bool control);
  // Prepends UDP 1701 and sends as L2TP toward the client: in clear, or
  // inside ESP transport with the outbound SA (kInvalidIndex = clear).
  void SendL2tp(rte_mbuf* m, uint32_t out_sa, uint32_t peer_ip,
                uint16_t peer_l2tp_port);
  // Queues m (starting at the UDP header) for ESP with outbound SA out_sa:
  // into this worker's ESP batch, or, on housekeeping, to the SA's polling
  // worker through inject_handoff (see DataplaneShared).
  void EspOutQueue(rte_mbuf* m, uint32_t out_sa);
  // Prepends the outer IPv4 (+UDP) + Ethernet and sends on WAN.
  void SendWanIp(rte_mbuf* m, uint32_t src, uint32_t dst, uint8_t proto);

  DataplaneShared* sh_;
  Runtime* rt_;
  uint32_t id_;
  CryptoEngine* crypto_;
  shm::WorkerCounters* ctr_;
  shm::SaCounters* sa_ctr_;
  shm::SessionCounters* sess_ctr_;
  uint32_t sa_limit_, sess_limit_;
  shm::RingHeader* punt_ring_;
  uint64_t tsc_now_ = 0;
  bool discard_tx_ = false;
  TxTap tx_tap_ = nullptr;
  void* tx_tap_ctx_ = nullptr;
  uint64_t discarded_tx_ = 0;
  uint32_t idle_loops_ = 0;

  struct TxBuf {
    uint16_t n = 0;
    rte_mbuf* pkts[kBurst * 2];
  };
  TxBuf tx_[shm::kMaxPorts];

  // ESP batches, submitted at the end of a burst. Inbound jobs are staged
  // in the engine's own ring (EspCollect), outbound ones built here and
  // copied in. user: the mbuf; user_ctx: the SaRuntime; inbound user_aux:
  // esp offset | port << 16 | NAT-T << 24.
  esp::OutboundJob esp_out_[kBurst * 2];
  uint16_t n_esp_out_ = 0;
  void EspOutFlush();

  // Last-lookup caches within a poll (FlushPoll / Flush reset them: after
  // the poll the worker may report a quiescent state, and tables may change).
  const SessionRuntime* last_sess_ = nullptr;
  uint32_t last_sess_key_ = 0;
  // Consecutive packets mostly go the same way (one LAN host or gateway,
  // one WAN gateway): the last decision is reused for the same address
  // instead of repeating the hash lookups, route scan and neighbour seqlock.
  struct RouteMemo {
    uint32_t dst = 0;   // network order
    uint32_t nh = 0;    // next hop, network order
    uint8_t port = 0;
    bool valid = false;
  };
  // ForwardInner: dst is no client, pool or own address and routes to (port, nh).
  RouteMemo inner_route_;
  // SendWanIp: rt_->Route(dst).
  RouteMemo wan_route_;
  // SendVia: the neighbour table's answer for nh_ip_ (reachable or stale).
  uint32_t nh_ip_ = 0;
  bool nh_valid_ = false;
  uint8_t nh_mac_[6] = {};
  void ResetPollCaches() {
    last_sess_ = nullptr;
    inner_route_.valid = false;
    wan_route_.valid = false;
    nh_valid_ = false;
  }
};

}  // namespace vpn::dp
