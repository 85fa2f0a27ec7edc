// Worker main loop, transmission, punts and hand-offs.
#include "worker.h"

#include <unistd.h>

#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include "crypto_adapter.h"
#include "net_headers.h"
#include "vpn/shm_segment.h"

namespace vpn::dp {

Worker::Worker(DataplaneShared* sh, uint32_t id, CryptoEngine* crypto)
    : sh_(sh), rt_(sh->rt), id_(id), crypto_(crypto) {
  auto* h = sh->header;
  ctr_ = reinterpret_cast<shm::WorkerCounters*>(sh->shm_base + h->worker_counters_offset) + id;
  sa_ctr_ = reinterpret_cast<shm::SaCounters*>(sh->shm_base + h->sa_counters_offset) +
            uint64_t(id) * h->max_sas;
  sess_ctr_ = reinterpret_cast<shm::SessionCounters*>(sh->shm_base + h->session_counters_offset) +
              uint64_t(id) * h->max_sessions;
  sa_limit_ = h->max_sas;
  sess_limit_ = h->max_sessions;
  punt_ring_ = reinterpret_cast<shm::RingHeader*>(sh->shm_base + h->punt_rings_offset +
                                                  id * h->punt_ring_stride);
  InitReassembly();
  if (sh->icmp_rate) {
    icmp_cost_ = rte_get_tsc_hz() / sh->icmp_rate;
    icmp_tokens_ = icmp_cost_ * (sh->icmp_burst ? sh->icmp_burst : 1);
  }
}

void Worker::Run() {
  if (sh_->qsv) {
    rte_rcu_qsbr_thread_register(sh_->qsv, id_);
    rte_rcu_qsbr_thread_online(sh_->qsv, id_);
  }
  sh_->polling.fetch_add(1);
  while (!sh_->stop.load(std::memory_order_relaxed)) {
    uint32_t n = PollOnce();
    // Jobs in the crypto lanes still point at SA runtime objects: report a
    // quiescent state only once they completed (FlushPoll drains at least
    // every kDrainPolls polls).
    if (sh_->qsv && !CryptoBusy()) rte_rcu_qsbr_quiescent(sh_->qsv, id_);
    ++ctr_->loops;
    if (n) {
      idle_loops_ = 0;
    } else if (sh_->idle_sleep_us && ++idle_loops_ > 20000) {
      // Long idle spell: yield the core (shared test machines). Not on the
      // packet path: only after 20000 empty polls in a row.
      if (sh_->qsv) rte_rcu_qsbr_thread_offline(sh_->qsv, id_);
      usleep(sh_->idle_sleep_us);
      if (sh_->qsv) rte_rcu_qsbr_thread_online(sh_->qsv, id_);
    }
  }
  sh_->polling.fetch_sub(1);
  if (sh_->qsv) {
    rte_rcu_qsbr_thread_offline(sh_->qsv, id_);
    rte_rcu_qsbr_thread_unregister(sh_->qsv, id_);
  }
}

uint32_t Worker::PollOnce() {
  tsc_now_ = rte_rdtsc();
  uint32_t total = 0;
  rte_mbuf* pkts[kBurst];
  for (uint32_t p = 0; p < rt_->n_ports; ++p) {
    if (id_ >= sh_->n_rxq[p]) continue;
    uint16_t n = rte_eth_rx_burst(rt_->ports[p].port_id, uint16_t(id_), pkts, kBurst);
    if (!n) continue;
    total += n;
    if (rt_->ports[p].role == config::PortRole::kWan)
      ProcessWan(pkts, n, uint8_t(p));
    else
      ProcessLan(pkts, n, uint8_t(p));
  }
  if (rte_ring* r = sh_->handoff[id_]) {
    uint16_t n = uint16_t(rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurst, nullptr));
    PrefetchWanSas(pkts, n);
    for (uint16_t i = 0; i < n; ++i) WanOne(pkts[i], uint8_t(pkts[i]->hash.usr));
    total += n;
    EspFlush();
    EspOutFlush();  // hairpins and ICMP errors into other sessions
  }
  if (const uint32_t n = DrainInjectHandoff()) {
    total += n;
    EspOutFlush();
  }
  if (rte_ring* r = sh_->tx_proxy[id_]) {
    uint16_t n = uint16_t(rte_ring_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurst, nullptr));
    for (uint16_t i = 0; i < n; ++i) {
      uint8_t port = uint8_t(pkts[i]->hash.usr);
      TxBuf& b = tx_[port];
      b.pkts[b.n++] = pkts[i];  // already counted by the thread that built it
      if (b.n == kBurst * 2) FlushTx();
    }
    total += n;
  }
  FlushPoll(total);
  if (frag_tbl_) FragmentTick(tsc_now_);
  return total;
}

void Worker::Flush() {
  DrainCrypto();
  FlushTx();
  ResetPollCaches();
}

bool Worker::CryptoBusy() const { return CryptoInFlight(crypto_) != 0; }

void Worker::FlushPoll(uint32_t received) {
  if (CryptoInFlight(crypto_) &&
      (received < kBurst || ++polls_since_drain_ >= kDrainPolls)) {
    DrainCrypto();
    polls_since_drain_ = 0;
  }
  FlushTx();
  // The lookup caches live for one poll: after it the worker may report a
  // quiescent state and the session object may be retired.
  ResetPollCaches();
}

// Prefetch stages. With many sessions every level of the lookups is a
// cache (and TLB) miss; walking the whole burst one level at a time lets the
// misses of 32 packets overlap instead of stalling packet by packet. Each
// stage loads only what the previous one prefetched. Only hints: the WAN /
// LAN paths and the engine check everything themselves. A burst whose first
// and last packets belong to the same flow is taken as one flow's (the
// lookup cache last_sess_ serves it): then the passes would only cost time.

// By SPI (shm::SpiIndex gives the slot): Ethernet / IPv4 / ESP or UDP 4500
// / ESP.
void Worker::PrefetchWanSas(rte_mbuf** pkts, uint16_t n) {
  uint32_t idx[kBurst * 2];
  const SaRuntime* sas[kBurst * 2];
  if (n < 2 || n > kBurst * 2) return;
  // First and last frame with the same IPv4 addresses and the same SPI at
  // the NAT-T offset (no IP options): one flow fills the burst.
  constexpr uint32_t kHead = 14 + 20 + 8 + 4;
  if (rte_pktmbuf_data_len(pkts[0]) >= kHead && rte_pktmbuf_data_len(pkts[n - 1]) >= kHead) {
    const uint8_t* a = rte_pktmbuf_mtod(pkts[0], const uint8_t*);
    const uint8_t* b = rte_pktmbuf_mtod(pkts[n - 1], const uint8_t*);
    if (std::memcmp(a + 26, b + 26, 8) == 0 && std::memcmp(a + 42, b + 42, 4) == 0) return;
  }
  uint16_t m = 0;  // distinct consecutive SAs
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* p = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    const uint32_t len = rte_pktmbuf_data_len(pkts[i]);
    if (len < sizeof(EthHdr) + 20 + 16 || Load16(p + 12) != kEtherTypeIpv4) continue;
    const uint8_t* ip = p + sizeof(EthHdr);
    const uint32_t ihl = (ip[0] & 0xF) * 4u;
    if (ihl < 20 || len < sizeof(EthHdr) + ihl + 16) continue;
    const uint8_t* l4 = ip + ihl;
    uint32_t spi;
    if (ip[9] == kIpProtoEsp) {
      spi = Load32(l4);
    } else if (ip[9] == kIpProtoUdp && Load16(l4 + 2) == kPortNatT) {
      spi = Load32(l4 + 8);
    } else {
      continue;
    }
    const uint32_t x = shm::SpiIndex(spi);
    if (m > 0 && idx[m - 1] == x) continue;  // same SA as the previous packet
    idx[m++] = x;
    rt_->PrefetchSaSlot(x);
  }
  for (uint16_t i = 0; i < m; ++i) {
    sas[i] = rt_->SaHint(idx[i]);
    if (sas[i]) rte_prefetch0(sas[i]);
  }
  // The SA records arrived: their crypto contexts. The session and
  // counter lines are loaded after decryption instead (LoadInboundRecords):
  // asked for here, on top of five context lines per packet, most of those
  // prefetches were dropped (docs/perf.md, session 10).
  for (uint16_t i = 0; i < m; ++i) {
    if (sas[i] && sas[i]->ctx) esp::PrefetchSaContext(sas[i]->ctx);
  }
}

// By destination address: the session, then its outbound SA.
void Worker::PrefetchLanSessions(rte_mbuf** pkts, uint16_t n) {
  uint32_t key[kBurst * 2];
  if (n < 2 || n > kBurst * 2) return;
  if (rte_pktmbuf_data_len(pkts[0]) >= 34 && rte_pktmbuf_data_len(pkts[n - 1]) >= 34 &&
      std::memcmp(rte_pktmbuf_mtod(pkts[0], const uint8_t*) + 30,
                  rte_pktmbuf_mtod(pkts[n - 1], const uint8_t*) + 30, 4) == 0) {
    return;
  }
  uint16_t m = 0;
  uint32_t prev = 0;
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* p = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    if (rte_pktmbuf_data_len(pkts[i]) < sizeof(EthHdr) + 20 ||
        Load16(p + 12) != kEtherTypeIpv4) {
      continue;
    }
    uint32_t dst;
    std::memcpy(&dst, p + sizeof(EthHdr) + 16, 4);  // network order
    if (dst == prev) continue;  // same session as the previous packet
    prev = dst;
    key[m++] = dst;
    rt_->PrefetchSessionIp(dst);
  }
  for (uint16_t i = 0; i < m; ++i) key[i] = rt_->PrefetchSessionSlotByIp(key[i]);
  for (uint16_t i = 0; i < m; ++i) {
    if (key[i] < sess_limit_) {
      rt_->PrefetchSessionRecord(key[i]);
      rte_prefetch0(&sess_ctr_[key[i]]);
    }
  }
  // The session record arrived: its outbound SA's slot and record (the
  // record from the session's hint, without waiting for the slot). Then,
  // as loads, what LanFast reads next: the session's counter row and the
  // SA record through its slot. Prefetching them here together with the SA
  // context and counter row (eight lines a packet, 256 a burst) lost most
  // of them; loads are never dropped and a tight loop overlaps them: 100k
  // sessions, outbound 64 B, 1.30-1.33x -> 1.22-1.26x the raw
  // intel-ipsec-mb loop (docs/perf.md, session 10). The engine loads the
  // SA contexts itself (TouchSubmission), EspOutDone the SA counter rows.
  const SessionRuntime* sess[kBurst * 2];
  for (uint16_t i = 0; i < m; ++i) {
    const SessionRuntime* s = key[i] < sess_limit_ ? rt_->Session(key[i]) : nullptr;
    sess[i] = s;
    if (!s || s->outbound_sa == shm::kInvalidIndex) continue;
    rt_->PrefetchSaSlot(s->outbound_sa);
    if (const SaRuntime* hint = s->out_sa_hint.load(std::memory_order_relaxed)) rte_prefetch0(hint);
  }
  uint64_t sum = 0;
  for (uint16_t i = 0; i < m; ++i) {
    if (!sess[i]) continue;
    sum += sess_ctr_[key[i]].tx_packets;
    if (const SaRuntime* sa = rt_->Sa(sess[i]->outbound_sa)) sum += sa->index;
  }
  asm volatile("" : : "r"(sum));  // the loads are the point
}

void Worker::FlushTx() {
  for (uint32_t p = 0; p < rt_->n_ports; ++p) {
    TxBuf& b = tx_[p];
    if (!b.n) continue;
    uint16_t sent = 0;
    if (discard_tx_) {
      if (tx_tap_)
        for (uint16_t i = 0; i < b.n; ++i) tx_tap_(tx_tap_ctx_, uint8_t(p), b.pkts[i]);
      discarded_tx_ += b.n;
      rte_pktmbuf_free_bulk(b.pkts, b.n);
      b.n = 0;
      continue;
    }
    if (id_ < sh_->n_txq[p]) {
      sent = rte_eth_tx_burst(rt_->ports[p].port_id, uint16_t(id_), b.pkts, b.n);
    } else if (sh_->n_txq[p]) {
      // No queue of our own on this port: the owner of queue id % n_txq
      // sends for us.
      rte_ring* r = sh_->tx_proxy[id_ % sh_->n_txq[p]];
      for (uint16_t i = 0; i < b.n; ++i) b.pkts[i]->hash.usr = p;
      sent = uint16_t(rte_ring_enqueue_burst(r, reinterpret_cast<void**>(b.pkts), b.n, nullptr));
    }
    if (sent < b.n) {
      uint16_t lost = b.n - sent;
      ctr_->ports[p].tx_dropped += lost;
      ctr_->reason[static_cast<uint32_t>(Reason::k_tx_ring_full)] += lost;
      rte_pktmbuf_free_bulk(b.pkts + sent, lost);
    }
    b.n = 0;
  }
}

void Worker::SendVia(uint8_t port, uint32_t next_hop, rte_mbuf* m) {
  auto* eth = rte_pktmbuf_mtod(m, EthHdr*);
  if (nh_valid_ && nh_ip_ == next_hop) {
    std::memcpy(eth->dst, nh_mac_, 6);
  } else if (rt_->neigh.Lookup(next_hop, eth->dst)) {
    nh_ip_ = next_hop;
    std::memcpy(nh_mac_, eth->dst, 6);
    nh_valid_ = true;
  } else {
    HkEvent ev{};
    ev.kind = HkEvent::kHold;
    ev.ip = next_hop;
    ev.port = port;
    ev.m = m;
    if (!sh_->hk_events ||
        rte_ring_mp_enqueue_elem(sh_->hk_events, &ev, sizeof ev) != 0) {
      Drop(m, Reason::k_arp_unresolved);
    }
    return;
  }
  std::memcpy(eth->src, rt_->ports[port].mac, 6);
  eth->type = Be16(kEtherTypeIpv4);
  Send(port, m);
}

void Worker::PostEvent(const HkEvent& ev) {
  if (sh_->hk_events) rte_ring_mp_enqueue_elem(sh_->hk_events, const_cast<HkEvent*>(&ev), sizeof ev);
}

void Worker::Punt(shm::PuntKind kind, shm::PacketMeta& meta, const uint8_t* head,
                  uint16_t head_len, const uint8_t* body, uint16_t body_len, Reason r) {
  if (uint32_t(head_len) + body_len > shm::kMaxPacketData) {
    Count(Reason::k_punt_too_large);
    return;
  }
  uint8_t* slot = shm::RingReserve(punt_ring_);
  if (!slot) {
    Count(PuntRingFullReason(kind));
    return;
  }
  meta.kind = static_cast<uint16_t>(kind);
  meta.worker = uint8_t(id_);
  meta.length = uint16_t(head_len + body_len);
  meta.tsc = tsc_now_;
  std::memcpy(slot, &meta, sizeof meta);
  if (head_len) std::memcpy(slot + sizeof meta, head, head_len);
  if (body_len) std::memcpy(slot + sizeof meta + head_len, body, body_len);
  shm::RingCommit(punt_ring_);
  if (r != Reason::kCount) Count(r);
}

}  // namespace vpn::dp
