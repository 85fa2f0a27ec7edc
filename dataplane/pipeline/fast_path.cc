// The fast paths of both directions (worker.h, "Fast paths"). Each one
// walks a packet's headers once, in the shape nearly all traffic has: IPv4
// without options and not fragmented, ESP in UDP 4500 (RFC 3948 section
// 2.1) or raw ESP, L2TP data without sequencing (RFC 2661 section 3.1), PPP
// carrying IPv4 (RFC 1662 section 3.1, with or without ACFC/PFC), and a
// route and next-hop MAC the poll already resolved (Worker::RouteMemo).
// Anything else goes, untouched, to the full path (WanSlow, EspInSlow,
// LanSlow, EspOutSlow), which checks and counts every case: a fast path
// never drops. Both produce the same bytes and the same counters; the fast
// paths add their SA and session counters per run of consecutive packets
// (Worker::SaRun) instead of per packet.
#include <cstring>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "crypto_adapter.h"
#include "ipv4_check.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {
namespace {

// Header fields as they sit in the packet (network order), for comparing
// loads without byte swaps.
constexpr uint16_t kNoEtherIpv4 = RTE_BE16(kEtherTypeIpv4);
constexpr uint16_t kNoPortNatT = RTE_BE16(kPortNatT);
constexpr uint16_t kNoPortL2tp = RTE_BE16(kPortL2tp);
constexpr uint16_t kNoFragMask = RTE_BE16(kIpMf | kIpOffsetMask);
// The smallest inner packet the inbound fast path parses: UDP, L2TP data
// header, PPP (at most 4 bytes), IPv4 header.
constexpr uint32_t kMinL2tpIpv4 = sizeof(UdpHdr) + 6 + 4 + sizeof(Ipv4Hdr);

inline uint16_t Ld16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t Ld32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline void St16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

inline bool SameMac(const uint8_t* a, const uint8_t* b) {
  return Ld32(a) == Ld32(b) && Ld16(a + 4) == Ld16(b + 4);
}

// m holds one segment; its data becomes [start, start + len).
inline void SetData(rte_mbuf* m, const uint8_t* start, uint32_t len) {
  m->data_off = uint16_t(start - static_cast<const uint8_t*>(m->buf_addr));
  m->data_len = uint16_t(len);
  m->pkt_len = len;
}

// Ethernet header toward the next hop (RFC 894).
inline void PutEth(uint8_t* eth, const uint8_t* dst, const uint8_t* src) {
  std::memcpy(eth, dst, 6);
  std::memcpy(eth + 6, src, 6);
  St16(eth + 12, kNoEtherIpv4);
}

}  // namespace

// The fast paths are inlined into the burst loops (one function prologue
// per burst, not per packet); the full paths stay out of line.
#define VPN_FAST inline __attribute__((always_inline))

// --- WAN receive ---------------------------------------------------------

void Worker::ProcessWan(rte_mbuf** pkts, uint16_t n, uint8_t port, bool count_rx) {
  tsc_now_ = tsc_now_ ? tsc_now_ : rte_rdtsc();
  if (count_rx) {
    shm::PortCounters& pc = ctr_->ports[port];
    for (uint16_t i = 0; i < n; ++i) pc.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
    pc.rx_packets += n;
    ctr_->rx_packets += n;
  }
  PrefetchWanSas(pkts, n);
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    if (!WanFast(pkts[i], port)) WanSlow(pkts[i], port);
  }
  EspFlush();
  EspOutFlush();
}

void Worker::WanOne(rte_mbuf* m, uint8_t port) {
  if (!WanFast(m, port)) WanSlow(m, port);
}

// Ethernet to our MAC / IPv4 to our address, no options, not a fragment /
// UDP 4500 carrying ESP (not a keepalive, not the non-ESP marker) or
// protocol 50: the same trims and the same EspCollect as WanSlow.
VPN_FAST bool Worker::WanFast(rte_mbuf* m, uint8_t port) {
  const uint8_t* p = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  const PortInfo& pi = rt_->ports[port];
  uint32_t total;
  if (m->nb_segs == 1 && len >= sizeof(EthHdr) + sizeof(Ipv4Hdr) + esp::kEspHeaderLen &&
      Ld16(p + 12) == kNoEtherIpv4 && SameMac(p, pi.mac) &&
      ValidIpv4NoOptions(p + sizeof(EthHdr), len - uint32_t(sizeof(EthHdr)), &total)) {
    const uint8_t* ip = p + sizeof(EthHdr);
    const uint8_t* l4 = ip + sizeof(Ipv4Hdr);
    if (Ld32(ip + 16) == pi.addr && (Ld16(ip + 6) & kNoFragMask) == 0) {
      if (ip[9] == kIpProtoUdp && total >= sizeof(Ipv4Hdr) + sizeof(UdpHdr) + 8) {
        // RFC 3948 section 2.2/2.3: ESP is at least SPI + sequence, and its
        // SPI is never zero (zero = the non-ESP marker, IKE).
        const uint32_t udp_len = Load16(l4 + 4);
        if (Ld16(l4 + 2) == kNoPortNatT && udp_len >= sizeof(UdpHdr) + 8 &&
            udp_len <= total - sizeof(Ipv4Hdr) && Ld32(l4 + sizeof(UdpHdr)) != 0) {
          // Ethernet padding and bytes after the UDP payload are not ESP.
          SetData(m, p, uint32_t(sizeof(EthHdr) + sizeof(Ipv4Hdr)) + udp_len);
          EspCollectInline(m, port,
                           uint32_t(sizeof(EthHdr) + sizeof(Ipv4Hdr) + sizeof(UdpHdr)), true);
          return true;
        }
      } else if (ip[9] == kIpProtoEsp && total >= sizeof(Ipv4Hdr) + esp::kEspHeaderLen) {
        SetData(m, p, uint32_t(sizeof(EthHdr)) + total);
        EspCollectInline(m, port, uint32_t(sizeof(EthHdr) + sizeof(Ipv4Hdr)), false);
        return true;
      }
    }
  }
  return false;
}

// Inbound ESP (both paths): the SA from the SPI in O(1) (shm::SpiIndex),
// which must belong to the outer source; decrypted only by its owner worker
// (its replay window is single-writer, esp.h), so others hand it over.
void Worker::EspCollect(rte_mbuf* m, uint8_t port, uint32_t esp_off, bool natt) {
  EspCollectInline(m, port, esp_off, natt);
}

VPN_FAST void Worker::EspCollectInline(rte_mbuf* m, uint8_t port, uint32_t esp_off,
                                       bool natt) {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m) - esp_off;
  if (len < esp::kEspHeaderLen) {
    Drop(m, Reason::k_esp_truncated);
    return;
  }
  const uint32_t spi = Load32(p + esp_off);
  const SaRuntime* sa = rt_->InboundSaBySpi(spi);
  if (!sa || !sa->ctx) {
    Drop(m, Reason::k_esp_unknown_spi);
    return;
  }
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(p + sizeof(EthHdr));
  if (ip->src != sa->peer_ip) {
    DropSa(m, Reason::k_esp_wrong_peer, sa->index);
    return;
  }
  if (sh_->n_workers > 1) {
    const uint32_t owner = OwnerOf(sa->index);
    if (owner != id_ && id_ < sh_->n_workers && sh_->handoff[owner]) {
      m->hash.usr = port;
      if (rte_ring_mp_enqueue(sh_->handoff[owner], m) != 0)
        Drop(m, Reason::k_handoff_ring_full);
      return;
    }
  }
  if (!crypto_) {  // engine failed to start: SAs are useless
    DropSa(m, Reason::k_esp_crypto_error, sa->index);
    return;
  }
  // Filled in place in the engine's ring (no copy in or out).
  if (StagedInbound(crypto_) == esp::Engine::kMaxStaged) EspFlush();
  esp::InboundJob& j = *StageInbound(crypto_);
  j.sa = sa->ctx;
  j.esp = p + esp_off;
  j.len = len;
  j.user = m;
  j.user_ctx = sa;
  j.user_aux = esp_off | uint32_t(port) << 16 | uint32_t(natt) << 24;
}

// --- After decryption ----------------------------------------------------

// With many sessions the lines EspInFast reads after decryption (the
// SA's counter row, the session slot and record, the session's counter row)
// are cache misses. Plain loads in a tight loop over the burst let the
// out-of-order core keep many of them in flight, and unlike prefetches a
// load is never dropped when too many are outstanding. 100k sessions, 64 B:
// 0.93-0.94x the raw intel-ipsec-mb loop instead of 1.07-1.22x with the
// same lines prefetched before decryption (docs/perf.md, session 10).
void Worker::LoadInboundRecords(const esp::InboundJob* done, uint16_t n) {
  const SessionRuntime* sess[kBurst * 2];
  const SaRuntime* prev = nullptr;
  uint64_t sum = 0;
  uint16_t m = 0;
  for (uint16_t i = 0; i < n && m < kBurst * 2; ++i) {
    const auto* sa = static_cast<const SaRuntime*>(done[i].user_ctx);
    if (sa == prev) continue;  // the same SA as the packet before
    prev = sa;
    const uint32_t h = sa->session_hint.load(std::memory_order_relaxed);
    if (sa->index < sa_limit_) sum += sa_ctr_[sa->index].packets;
    if (h < sess_limit_) sum += sess_ctr_[h].rx_packets;
    sess[m++] = rt_->Session(h);  // nullptr when h is not a slot
  }
  for (uint16_t i = 0; i < m; ++i) {
    if (sess[i]) sum += sess[i]->assigned_ip;
  }
  asm volatile("" : : "r"(sum));  // the loads are the point
}

void Worker::EspInDone(esp::InboundJob* done, uint16_t n) {
  LoadInboundRecords(done, n);
  SaRun sa_run;
  SessionRun sess_run;
  for (uint16_t i = 0; i < n; ++i) {
    if (!EspInFast(done[i], sa_run, sess_run)) EspInSlow(done[i]);
  }
  FlushSaRun(sa_run);
  FlushSessionRun<true>(sess_run);
}

// A verified packet of UDP 1701 / L2TP data (flags 0x0002, or 0x4002 with
// the length field) / PPP IPv4 / a valid inner IPv4 header from the
// session's own address, alive (TTL > 1), to a destination this poll
// already forwarded to (no client, pool or own address; route and
// neighbour known): TTL decremented (RFC 1624 update), Ethernet header
// written over the bytes before the inner header, queued.
VPN_FAST bool Worker::EspInFast(const esp::InboundJob& j, SaRun& sa_run, SessionRun& sess_run) {
  if (j.verdict != esp::kOk || j.events || j.next_header != kIpProtoUdp ||
      j.payload_len < kMinL2tpIpv4) {
    return false;
  }
  uint8_t* udp = j.payload;
  const uint32_t udp_len = Load16(udp + 4);
  if (Ld16(udp + 2) != kNoPortL2tp || udp_len < kMinL2tpIpv4 || udp_len > j.payload_len)
    return false;
  uint8_t* l2 = udp + sizeof(UdpHdr);
  uint32_t l2_len = udp_len - uint32_t(sizeof(UdpHdr));
  const uint16_t flags = Load16(l2);
  uint32_t off = 2;
  if (flags == (kL2tpL | kL2tpVersion2)) {
    const uint32_t length = Load16(l2 + 2);
    if (length > l2_len || length < kMinL2tpIpv4 - sizeof(UdpHdr) + 2) return false;
    l2_len = length;
    off = 4;
  } else if (flags != kL2tpVersion2) {
    return false;
  }
  const uint16_t tid = Load16(l2 + off);
  const uint16_t sid = Load16(l2 + off + 2);
  // At least 4 PPP bytes and an IPv4 header follow (length checks above).
  uint8_t* ppp = l2 + off + 4;
  const uint8_t* end = l2 + l2_len;
  if (ppp[0] == kPppAddress && ppp[1] == kPppControl) ppp += 2;  // RFC 1662 3.1
  if (ppp[0] == uint8_t(kPppIpv4)) {
    ppp += 1;  // PFC (RFC 1661 section 6.5)
  } else if (ppp[0] == 0 && ppp[1] == uint8_t(kPppIpv4)) {
    ppp += 2;
  } else {
    return false;
  }
  const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
  const SessionRuntime* s = LookupSession(sa, tid, sid);
  if (!s || !Runtime::SessionAcceptsSa(s, sa->index)) return false;
  uint32_t total;
  if (!ValidIpv4NoOptions(ppp, uint32_t(end - ppp), &total)) return false;
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ppp);
  const uint32_t dst = ip->dst;
  rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
  if (ip->src != s->assigned_ip || ip->ttl <= 1 || m->nb_segs != 1 || !inner_route_.valid ||
      inner_route_.dst != dst || !nh_valid_ || nh_ip_ != inner_route_.nh) {
    return false;
  }
  AddSaRun(sa_run, sa, j.payload_len);
  AddSessionRun<true>(sess_run, s, total);
  DecrementTtl(ip);
  uint8_t* eth = ppp - sizeof(EthHdr);
  SetData(m, eth, uint32_t(sizeof(EthHdr)) + total);
  const uint8_t port = inner_route_.port;
  PutEth(eth, nh_mac_, rt_->ports[port].mac);
  Send(port, m);
  return true;
}

// --- LAN receive ----------------------------------------------------------

// Ethernet to our MAC / IPv4 without options, to an installed client
// address (the poll's last session, else the hash lookup LanSlow would
// do), alive, within the session's MRU, with a usable outbound SA, no L2TP
// sequencing: TTL decremented, MSS clamped as ToSession would, then PPP /
// L2TP data / UDP 1701 written in one go in front of the IPv4 header (the
// bytes PrependL2tpData and SendL2tp write) and queued for ESP.
VPN_FAST bool Worker::LanFast(rte_mbuf* m, uint8_t port) {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  uint32_t total;
  if (m->nb_segs != 1 || len < sizeof(EthHdr) + sizeof(Ipv4Hdr) ||
      Ld16(p + 12) != kNoEtherIpv4 || !SameMac(p, rt_->ports[port].mac) ||
      !ValidIpv4NoOptions(p + sizeof(EthHdr), len - uint32_t(sizeof(EthHdr)), &total)) {
    return false;
  }
  uint8_t* ipb = p + sizeof(EthHdr);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ipb);
  const uint32_t dst = ip->dst;
  const SessionRuntime* s = last_sess_;
  if (!s || s->assigned_ip != dst) {
    // LanSlow's lookup; it drops (and counts) what is not a client.
    s = rt_->SessionByIp(dst);
    if (!s || rt_->IsOurAddress(dst)) return false;
    last_sess_ = s;
    last_sess_key_ = SessionKey(s->local_tunnel_id, s->local_session_id);
  }
  const SaRuntime* sa;
  if (ip->ttl <= 1 || total > s->mru || (s->flags & shm::kSessionFlagSequencing) ||
      !(sa = OutboundSaOf(s))) {
    return false;
  }
  // PPP: FF 03 unless the peer accepts ACFC, the protocol in one byte when
  // it accepts PFC (RFC 1661 section 6.5/6.6).
  const bool acfc = s->flags & shm::kSessionFlagAcfc;
  const bool pfc = s->flags & shm::kSessionFlagPfc;
  const uint32_t ppp_len = (acfc ? 0 : 2) + (pfc ? 1 : 2);
  const uint32_t head = uint32_t(sizeof(UdpHdr)) + 6 + ppp_len;
  uint8_t* h = ipb - head;
  if (h < static_cast<uint8_t*>(m->buf_addr)) {
    return false;
  }
  DecrementTtl(ip);
  if (ip->proto == kIpProtoTcp) ClampForSession(ipb, s);
  // UDP 1701 with a zero checksum (RFC 768; see SendL2tp), L2TP data
  // header without L/S/O (RFC 2661 section 3.1).
  St16(h, kNoPortL2tp);
  St16(h + 2, s->peer_port ? s->peer_port : kNoPortL2tp);
  Store16(h + 4, uint16_t(head + total));
  St16(h + 6, 0);
  Store16(h + 8, kL2tpVersion2);
  Store16(h + 10, s->peer_tunnel_id);
  Store16(h + 12, s->peer_session_id);
  uint8_t* pp = h + 14;
  if (!acfc) {
    pp[0] = kPppAddress;
    pp[1] = kPppControl;
    pp += 2;
  }
  if (!pfc) *pp++ = 0;
  *pp = uint8_t(kPppIpv4);
  SetData(m, h, head + total);
  AddSessionRun<false>(lan_sess_run_, s, total);
  if (n_esp_out_ == sizeof(esp_out_) / sizeof(esp_out_[0])) EspOutFlush();
  esp::OutboundJob& j = esp_out_[n_esp_out_++];
  j.sa = sa->ctx;
  j.payload = h;
  j.payload_len = head + total;
  j.headroom = rte_pktmbuf_headroom(m);
  j.tailroom = rte_pktmbuf_tailroom(m);
  j.next_header = kIpProtoUdp;
  j.user = m;
  j.user_ctx = sa;
  return true;
}

void Worker::ProcessLan(rte_mbuf** pkts, uint16_t n, uint8_t port) {
  shm::PortCounters& pc = ctr_->ports[port];
  for (uint16_t i = 0; i < n; ++i) pc.rx_bytes += rte_pktmbuf_pkt_len(pkts[i]);
  pc.rx_packets += n;
  ctr_->rx_packets += n;
  PrefetchLanSessions(pkts, n);
  for (uint16_t i = 0; i < n; ++i) {
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void*));
    if (!LanFast(pkts[i], port)) LanSlow(pkts[i], port);
  }
  FlushSessionRun<false>(lan_sess_run_);
  EspOutFlush();
}

// --- After encryption ------------------------------------------------------

void Worker::EspOutDone(esp::OutboundJob* done, uint16_t n) {
  const void* prev_sa = nullptr;
  for (uint16_t i = 0; i < n; ++i) {
    const auto* sa = static_cast<const SaRuntime*>(done[i].user_ctx);
    if (sa != prev_sa && sa->index < sa_limit_) rte_prefetch0(&sa_ctr_[sa->index]);
    prev_sa = sa;
  }
  SaRun sa_run;
  for (uint16_t i = 0; i < n; ++i) {
    if (!EspOutFast(done[i], sa_run)) EspOutSlow(done[i]);
  }
  FlushSaRun(sa_run);
}

// An encrypted packet whose SA's peer routes to a next hop with a known MAC:
// the outer IPv4 header (the one SendWanIp writes: id from ip_id_, TTL 64,
// checksum summed from its five words) and for NAT-T the UDP 4500 header
// with a zero checksum (RFC 3948 section 2.1), then Ethernet, queued.
VPN_FAST bool Worker::EspOutFast(const esp::OutboundJob& j, SaRun& sa_run) {
  if (j.verdict != esp::kOk || j.events) return false;
  const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
  rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
  const bool udp = sa->encap == shm::Encap::kUdp;
  const uint32_t outer = uint32_t(sizeof(EthHdr) + sizeof(Ipv4Hdr)) + (udp ? 8 : 0);
  uint8_t* eth = j.esp - outer;
  const uint32_t dst = sa->peer_ip;
  if (eth < static_cast<uint8_t*>(m->buf_addr) || m->nb_segs != 1 || rt_->wan_port < 0)
    return false;
  if (!wan_route_.valid || wan_route_.dst != dst) {
    uint8_t port;
    uint32_t nh;
    if (!rt_->Route(dst, &port, &nh)) return false;
    wan_route_ = {dst, nh, port, true};
  }
  if (!nh_valid_ || nh_ip_ != wan_route_.nh) return false;
  AddSaRun(sa_run, sa, rte_pktmbuf_data_len(m));
  uint8_t* ipb = eth + sizeof(EthHdr);
  const uint32_t ip_total = uint32_t(sizeof(Ipv4Hdr)) + (udp ? 8 : 0) + j.esp_len;
  if (udp) {
    uint8_t* u = ipb + sizeof(Ipv4Hdr);
    St16(u, sa->local_port ? sa->local_port : kNoPortNatT);
    St16(u + 2, sa->peer_port ? sa->peer_port : kNoPortNatT);
    Store16(u + 4, uint16_t(8 + j.esp_len));
    St16(u + 6, 0);
  }
  // Little-endian words of the header as it sits in memory.
  uint32_t w[5];
  w[0] = 0x45u | uint32_t(Be16(uint16_t(ip_total))) << 16;
  w[1] = Be16(ip_id_++);  // fragment field 0
  w[2] = 64u | uint32_t(udp ? kIpProtoUdp : kIpProtoEsp) << 8;
  w[3] = sa->local_ip ? sa->local_ip : rt_->ports[rt_->wan_port].addr;
  w[4] = dst;
  std::memcpy(ipb, w, sizeof w);
  St16(ipb + 10, uint16_t(~Csum20Fold(ipb)));
  SetData(m, eth, uint32_t(sizeof(EthHdr)) + ip_total);
  const uint8_t port = wan_route_.port;
  PutEth(eth, nh_mac_, rt_->ports[port].mac);
  Send(port, m);
  return true;
}

}  // namespace vpn::dp
