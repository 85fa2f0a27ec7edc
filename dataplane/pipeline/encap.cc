// Network-to-client encapsulation: PPP (RFC 1662, with ACFC/PFC as the peer
// negotiated), L2TP data header (RFC 2661 section 3.1), UDP 1701, then ESP
// transport mode (RFC 4303) raw or in UDP 4500 (RFC 3948 section 2.1), outer
// IPv4 and Ethernet. Also the packets the control plane injects.
#include <cstring>

#include <rte_mbuf.h>

#include "crypto_adapter.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {

void Worker::EncapToSession(rte_mbuf* m, const SessionRuntime* s) {
  const uint32_t ip_len = rte_pktmbuf_pkt_len(m);
  if (!PrependL2tpData(m, s, kPppIpv4, false)) {
    Drop(m, Reason::k_mbuf_alloc_failed);
    return;
  }
  if (s->index < sess_limit_) {
    shm::SessionCounters& sc = SessionRow(*s);
    sc.tx_packets++;
    sc.tx_bytes += ip_len;
  }
  SendL2tp(m, s->outbound_sa, s->peer_ip, s->peer_port);
}

bool Worker::PrependL2tpData(rte_mbuf* m, const SessionRuntime* s, uint16_t proto,
                             bool control) {
  // PPP header. Control protocols always go uncompressed: LCP must (RFC
  // 1661 section 6.5/6.6) and it is always acceptable for the others.
  uint8_t ppp[4];
  uint32_t ppp_len = 0;
  if (control || !(s->flags & shm::kSessionFlagAcfc)) {
    ppp[ppp_len++] = kPppAddress;
    ppp[ppp_len++] = kPppControl;
  }
  if (!control && (s->flags & shm::kSessionFlagPfc) && proto < 0x100) {
    ppp[ppp_len++] = uint8_t(proto);
  } else {
    ppp[ppp_len++] = uint8_t(proto >> 8);
    ppp[ppp_len++] = uint8_t(proto);
  }
  const bool seq = s->flags & shm::kSessionFlagSequencing;
  const uint32_t l2_len = seq ? 10 : 6;
  auto* h = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, uint16_t(l2_len + ppp_len)));
  if (!h) return false;
  Store16(h, kL2tpVersion2 | (seq ? kL2tpS : 0));
  Store16(h + 2, s->peer_tunnel_id);
  Store16(h + 4, s->peer_session_id);
  if (seq) {
    Store16(h + 6, s->ns_next.fetch_add(1, std::memory_order_relaxed));
    Store16(h + 8, 0);  // Nr is reserved in data messages
  }
  std::memcpy(h + l2_len, ppp, ppp_len);
  return true;
}

void Worker::SendL2tp(rte_mbuf* m, uint32_t out_sa, uint32_t peer_ip, uint16_t peer_port) {
  auto* udp = reinterpret_cast<UdpHdr*>(rte_pktmbuf_prepend(m, sizeof(UdpHdr)));
  if (!udp) {
    Drop(m, Reason::k_mbuf_alloc_failed);
    return;
  }
  udp->src = Be16(kPortL2tp);
  udp->dst = peer_port ? peer_port : Be16(kPortL2tp);
  udp->len = Be16(uint16_t(rte_pktmbuf_pkt_len(m)));
  // A zero checksum is valid for UDP over IPv4 (RFC 768) and spares the
  // NAT-T transport-mode fix-up of RFC 3948 section 3.1.2 at the client.
  udp->csum = 0;
  if (out_sa == shm::kInvalidIndex) {
    if (rt_->require_ipsec || rt_->wan_port < 0) {
      Drop(m, Reason::k_l2tp_cleartext);
      return;
    }
    SendWanIp(m, rt_->ports[rt_->wan_port].addr, peer_ip, kIpProtoUdp);
    return;
  }
  EspOutQueue(m, out_sa);
}

void Worker::EspOutQueue(rte_mbuf* m, uint32_t out_sa) {
  const SaRuntime* sa = rt_->Sa(out_sa);
  if (!sa || sa->dir != shm::SaDir::kOutbound || !sa->ctx) {
    Drop(m, Reason::k_esp_unknown_spi);
    return;
  }
  if (id_ >= sh_->n_workers && sh_->n_workers) {
    // Housekeeping: the SA's polling worker numbers and sends it (see
    // DataplaneShared::inject_handoff).
    if (rte_ring* r = sh_->inject_handoff[OwnerOf(out_sa)]) {
      m->hash.fdir.lo = out_sa;
      m->hash.fdir.hi = sa->spi;
      if (rte_ring_mp_enqueue(r, m) != 0) Drop(m, Reason::k_inject_handoff_full);
      return;
    }
  }
  if (n_esp_out_ == sizeof(esp_out_) / sizeof(esp_out_[0])) EspOutFlush();
  esp::OutboundJob& j = esp_out_[n_esp_out_++];
  j.sa = sa->ctx;
  j.payload = rte_pktmbuf_mtod(m, uint8_t*);
  j.payload_len = rte_pktmbuf_data_len(m);
  j.headroom = rte_pktmbuf_headroom(m);
  j.tailroom = rte_pktmbuf_tailroom(m);
  j.next_header = kIpProtoUdp;
  j.user = m;
  j.user_ctx = sa;
}

void Worker::SendWanIp(rte_mbuf* m, uint32_t src, uint32_t dst, uint8_t proto) {
  auto* ip = reinterpret_cast<Ipv4Hdr*>(rte_pktmbuf_prepend(m, sizeof(Ipv4Hdr)));
  if (!ip) {
    Drop(m, Reason::k_mbuf_alloc_failed);
    return;
  }
  ip->ver_ihl = 0x45;
  ip->tos = 0;
  ip->total_length = Be16(uint16_t(rte_pktmbuf_pkt_len(m)));
  ip->id = Be16(ip_id_++);
  ip->frag = 0;
  ip->ttl = 64;
  ip->proto = proto;
  ip->csum = 0;
  ip->src = src;
  ip->dst = dst;
  ip->csum = Ipv4HeaderCsum(ip);
  if (!rte_pktmbuf_prepend(m, sizeof(EthHdr))) {
    Drop(m, Reason::k_mbuf_alloc_failed);
    return;
  }
  uint8_t port;
  uint32_t nh;
  if (wan_route_.valid && wan_route_.dst == dst) {
    port = wan_route_.port;
    nh = wan_route_.nh;
  } else {
    if (rt_->wan_port < 0 || !rt_->Route(dst, &port, &nh)) {
      Drop(m, Reason::k_rx_no_route);
      return;
    }
    wan_route_ = {dst, nh, port, true};
  }
  SendVia(port, nh, m);
}

uint32_t Worker::DrainInjectHandoff() {
  rte_ring* r = sh_->inject_handoff[id_];
  if (!r) return 0;
  rte_mbuf* pkts[kBurst];
  const uint16_t n =
      uint16_t(rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(pkts), kBurst, nullptr));
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const SaRuntime* sa = rt_->Sa(m->hash.fdir.lo);
    // The slot may have been freed and reused while the packet waited: the
    // SPI tells (a control packet for a deleted SA has no one to go to).
    if (!sa || sa->spi != m->hash.fdir.hi) {
      Drop(m, Reason::k_inject_sa_gone);
      continue;
    }
    EspOutQueue(m, m->hash.fdir.lo);
  }
  return n;
}

Reason Worker::Inject(const shm::PacketMeta& meta, const uint8_t* data) {
  tsc_now_ = rte_rdtsc();
  if (meta.length > shm::kMaxPacketData || rt_->wan_port < 0) return Reason::k_inject_bad;
  rte_mbuf* m = rte_pktmbuf_alloc(sh_->pool);
  if (!m) return Reason::k_mbuf_alloc_failed;
  // Leave the default headroom for every header we prepend; the data must
  // fit the rest of the buffer together with the ESP trailer.
  if (uint32_t(meta.length) + 64 > rte_pktmbuf_tailroom(m)) {
    rte_pktmbuf_free(m);
    return Reason::k_inject_bad;
  }
  const auto kind = static_cast<shm::InjectKind>(meta.kind);
  const uint32_t wan_addr = rt_->ports[rt_->wan_port].addr;
  switch (kind) {
    case shm::InjectKind::kUdpRaw: {
      if (!meta.outer_dst_ip || !meta.outer_dst_port || !meta.outer_src_port) break;
      std::memcpy(rte_pktmbuf_append(m, meta.length), data, meta.length);
      // RFC 3948 section 2.2: IKE on 4500 carries the non-ESP marker; a
      // NAT-keepalive (section 2.3: the single octet 0xFF) goes bare.
      const bool keepalive = meta.length == 1 && data[0] == 0xFF;
      if (meta.outer_src_port == Be16(kPortNatT) && !keepalive) {
        std::memset(rte_pktmbuf_prepend(m, 4), 0, 4);
      }
      auto* udp = reinterpret_cast<UdpHdr*>(rte_pktmbuf_prepend(m, sizeof(UdpHdr)));
      udp->src = meta.outer_src_port;
      udp->dst = meta.outer_dst_port;
      udp->len = Be16(uint16_t(rte_pktmbuf_pkt_len(m)));
      udp->csum = 0;
      const uint32_t src = meta.outer_src_ip ? meta.outer_src_ip : wan_addr;
      udp->csum = L4Csum(src, meta.outer_dst_ip, kIpProtoUdp, udp, Be16(udp->len));
      if (udp->csum == 0) udp->csum = 0xFFFF;
      SendWanIp(m, src, meta.outer_dst_ip, kIpProtoUdp);
      return Reason::k_inject_sent;
    }
    case shm::InjectKind::kL2tpViaSa: {
      if (meta.length < 6) break;
      uint32_t peer_ip = meta.outer_dst_ip;
      uint16_t peer_port = meta.inner_dst_port ? meta.inner_dst_port : meta.outer_dst_port;
      if (meta.sa_index != shm::kInvalidIndex) {
        const SaRuntime* sa = rt_->Sa(meta.sa_index);
        if (!sa || sa->dir != shm::SaDir::kOutbound) break;
        peer_ip = sa->peer_ip;
      } else if (!peer_ip || rt_->require_ipsec) {
        break;
      }
      std::memcpy(rte_pktmbuf_append(m, meta.length), data, meta.length);
      SendL2tp(m, meta.sa_index, peer_ip, peer_port);
      EspOutFlush();
      return Reason::k_inject_sent;
    }
    case shm::InjectKind::kPppViaSession: {
      const SessionRuntime* s = rt_->Session(meta.session_index);
      if (!s || meta.length < 2) break;
      const uint16_t proto = Load16(data);
      std::memcpy(rte_pktmbuf_append(m, uint16_t(meta.length - 2)), data + 2, meta.length - 2u);
      if (!PrependL2tpData(m, s, proto, proto != kPppIpv4)) break;
      SendL2tp(m, s->outbound_sa, s->peer_ip, s->peer_port);
      EspOutFlush();
      return Reason::k_inject_sent;
    }
  }
  rte_pktmbuf_free(m);
  return Reason::k_inject_bad;
}

}  // namespace vpn::dp
