// Network-to-client: LAN IPv4 to a pool address goes into the session that
// owns the address, sized to the session MTU (fragment, or ICMP
// "fragmentation needed" when DF is set, RFC 1191), TCP MSS clamped on SYN.
#include <cstring>

#include <rte_mbuf.h>

#include "ipv4_check.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {

void Worker::LanSlow(rte_mbuf* m, uint8_t port) {
  if (m->nb_segs != 1 && rte_pktmbuf_linearize(m) != 0) {
    Drop(m, Reason::k_rx_truncated);
    return;
  }
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < sizeof(EthHdr)) {
    Drop(m, Reason::k_rx_truncated);
    return;
  }
  const auto* eth = reinterpret_cast<const EthHdr*>(p);
  const uint16_t type = Be16(eth->type);
  if (type == kEtherTypeArp) {
    ArpInput(m, port);
    return;
  }
  if (type != kEtherTypeIpv4) {
    Drop(m, Reason::k_rx_unknown_ethertype);
    return;
  }
  if (std::memcmp(eth->dst, rt_->ports[port].mac, 6) != 0) {
    Drop(m, Reason::k_rx_not_for_us);
    return;
  }
  uint8_t* ipb = p + sizeof(EthHdr);
  uint32_t ihl, total;
  if (!ValidIpv4(ipb, len - sizeof(EthHdr), &ihl, &total)) {
    Drop(m, Reason::k_rx_bad_ipv4);
    return;
  }
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ipb);
  const uint32_t dst = ip->dst;
  const SessionRuntime* s;
  if (last_sess_ && last_sess_->assigned_ip == dst) {
    s = last_sess_;
  } else {
    // Any installed client address, in a pool or not (RADIUS
    // Framed-IP-Address, static per-user addresses).
    s = rt_->SessionByIp(dst);
    if (!s || rt_->IsOurAddress(dst)) {
      Drop(m, rt_->InPool(dst) && !rt_->IsOurAddress(dst) ? Reason::k_lan_no_session
                                                          : Reason::k_rx_not_for_us);
      return;
    }
    last_sess_ = s;
    last_sess_key_ = SessionKey(s->local_tunnel_id, s->local_session_id);
  }
  if (ip->ttl <= 1) {
    TtlExpired(m, ip, total, nullptr, port);
    return;
  }
  DecrementTtl(ip);
  rte_pktmbuf_adj(m, sizeof(EthHdr));
  rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - total));
  ToSession(m, s, port);
}

void Worker::ToSession(rte_mbuf* m, const SessionRuntime* s, int lan_port) {
  auto* ip = rte_pktmbuf_mtod(m, Ipv4Hdr*);
  if (ip->proto == kIpProtoTcp) ClampForSession(reinterpret_cast<uint8_t*>(ip), s);
  const uint32_t total = Be16(ip->total_length);
  if (total > s->mru) {
    if (Be16(ip->frag) & kIpDf) {
      if (lan_port >= 0) SendIcmpFragNeeded(m, uint8_t(lan_port), s->mru);
      Drop(m, Reason::k_mtu_exceeded);
      return;
    }
    FragmentToSession(m, s, s->mru);
    return;
  }
  EncapToSession(m, s);
}

void Worker::ClampForSession(uint8_t* ipb, const SessionRuntime* s) {
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(ipb);
  if (ip->proto != kIpProtoTcp || IsFragment(ip)) return;
  // RFC 879 / RFC 6691: MSS = MTU - 40 for IPv4 without options.
  if (rt_->tcp_mss_clamp != 1)
    ClampMss(ipb, rt_->tcp_mss_clamp > 1 ? rt_->tcp_mss_clamp : uint16_t(s->mru - 40));
  else if (s->flags & shm::kSessionFlagClamp)
    ClampMss(ipb, uint16_t(s->mru - 40));
}

void Worker::ClampMss(uint8_t* ipb, uint16_t mss) {
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ipb);
  const uint32_t ihl = (ip->ver_ihl & 0x0F) * 4u;
  const uint32_t total = Be16(ip->total_length);
  if (total < ihl + sizeof(TcpHdr)) return;
  auto* tcp = reinterpret_cast<TcpHdr*>(ipb + ihl);
  if (!(tcp->flags & kTcpSyn)) return;
  const uint32_t doff = (tcp->off >> 4) * 4u;
  if (doff < sizeof(TcpHdr) || ihl + doff > total) return;
  uint8_t* opt = reinterpret_cast<uint8_t*>(tcp) + sizeof(TcpHdr);
  uint8_t* end = reinterpret_cast<uint8_t*>(tcp) + doff;
  while (opt < end) {
    if (*opt == 0) break;        // end of options
    if (*opt == 1) {             // no-op
      ++opt;
      continue;
    }
    if (opt + 1 >= end || opt[1] < 2 || opt + opt[1] > end) break;
    if (opt[0] == 2 && opt[1] == 4) {  // MSS (RFC 793)
      uint16_t cur = Load16(opt + 2);
      if (cur > mss) {
        uint16_t old_v, new_v;
        std::memcpy(&old_v, opt + 2, 2);
        Store16(opt + 2, mss);
        std::memcpy(&new_v, opt + 2, 2);
        // The option starts at an even offset from the TCP header whenever
        // it is 16-bit aligned; the 16-bit word update works on either
        // alignment as long as we patch the word pair it spans.
        if (((opt + 2) - reinterpret_cast<uint8_t*>(tcp)) % 2 == 0) {
          tcp->csum = CsumUpdate16(tcp->csum, old_v, new_v);
        } else {
          tcp->csum = 0;
          tcp->csum = L4Csum(ip->src, ip->dst, kIpProtoTcp, tcp, uint16_t(total - ihl));
        }
        Count(Reason::k_tcp_mss_clamped);
      }
      return;
    }
    opt += opt[1];
  }
}

void Worker::SendIcmpFragNeeded(rte_mbuf* orig, uint8_t port, uint16_t mtu) {
  // orig starts at the IPv4 header; its Ethernet header sits just before.
  const auto* oip = rte_pktmbuf_mtod(orig, const Ipv4Hdr*);
  const auto* oeth = reinterpret_cast<const EthHdr*>(oip) - 1;
  if (rte_mbuf* icmp = BuildIcmpError(oip, rte_pktmbuf_data_len(orig), 3, 4, mtu,
                                      rt_->ports[port].addr))
    SendIcmpOnPort(icmp, port, oeth->src);
}

void Worker::FragmentToSession(rte_mbuf* m, const SessionRuntime* s, uint16_t mtu) {
  const auto* ip = rte_pktmbuf_mtod(m, const Ipv4Hdr*);
  const uint32_t ihl = (ip->ver_ihl & 0x0F) * 4u;
  const uint32_t total = Be16(ip->total_length);
  const uint16_t orig_frag = Be16(ip->frag);
  const uint32_t base_off = (orig_frag & kIpOffsetMask) * 8u;
  const bool orig_mf = orig_frag & kIpMf;
  // Payload per fragment: a multiple of 8 (RFC 791).
  const uint32_t chunk = ((mtu - ihl) / 8u) * 8u;
  if (chunk == 0 || mtu <= ihl) {
    Drop(m, Reason::k_mtu_exceeded);
    return;
  }
  const uint8_t* payload = reinterpret_cast<const uint8_t*>(ip) + ihl;
  const uint32_t plen = total - ihl;
  for (uint32_t off = 0; off < plen; off += chunk) {
    const uint32_t n = plen - off < chunk ? plen - off : chunk;
    rte_mbuf* f = rte_pktmbuf_alloc(sh_->pool);
    if (!f) {
      Count(Reason::k_mbuf_alloc_failed);
      break;
    }
    auto* fp = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(f, uint16_t(ihl + n)));
    if (!fp) {
      rte_pktmbuf_free(f);
      Count(Reason::k_mbuf_alloc_failed);
      break;
    }
    std::memcpy(fp, ip, ihl);
    std::memcpy(fp + ihl, payload + off, n);
    auto* fip = reinterpret_cast<Ipv4Hdr*>(fp);
    const bool more = (off + n < plen) || orig_mf;
    fip->total_length = Be16(uint16_t(ihl + n));
    fip->frag = Be16(uint16_t(((base_off + off) / 8u) | (more ? kIpMf : 0)));
    fip->csum = 0;
    fip->csum = Ipv4HeaderCsum(fip);
    Count(Reason::k_mtu_fragmented);
    EncapToSession(f, s);
  }
  rte_pktmbuf_free(m);
}

}  // namespace vpn::dp
