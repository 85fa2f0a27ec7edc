// Client-to-network: the L2TP data header (RFC 2661 section 3.1), PPP
// framing (RFC 1662 section 3, RFC 1661 section 6.5/6.6 compression), the
// inner IPv4 checks and forwarding to the LAN or back into another session.
#include <cstring>

#include <rte_mbuf.h>

#include "ipv4_check.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {

const SessionRuntime* Worker::LookupSessionNew(const SaRuntime* sa, uint16_t tid,
                                               uint16_t sid) {
  // The session the SA carries (RuntimeWriter keeps the hint; prefetched
  // per burst) spares the hash lookup; its ids must match all the same.
  const SessionRuntime* s =
      sa ? rt_->Session(sa->session_hint.load(std::memory_order_relaxed)) : nullptr;
  if (!s || s->local_tunnel_id != tid || s->local_session_id != sid)
    s = rt_->SessionById(tid, sid);
  if (s) {
    last_sess_ = s;
    last_sess_key_ = SessionKey(tid, sid);
  }
  return s;
}

void Worker::L2tpInput(rte_mbuf* m, uint8_t* udp, uint32_t udp_len, const Outer& o,
                       const SaRuntime* sa) {
  const uint32_t sa_index = sa ? sa->index : shm::kInvalidIndex;
  if (udp_len < sizeof(UdpHdr) || Load16(udp + 2) != kPortL2tp) {
    DropSa(m, Reason::k_policy_not_l2tp, sa_index);
    return;
  }
  uint8_t* l2 = udp + sizeof(UdpHdr);
  uint32_t l2_len = udp_len - sizeof(UdpHdr);
  if (l2_len < 6) {
    DropSa(m, Reason::k_l2tp_bad_header, sa_index);
    return;
  }
  const uint16_t flags = Load16(l2);
  if ((flags & kL2tpVersionMask) != kL2tpVersion2) {
    DropSa(m, Reason::k_l2tp_bad_header, sa_index);
    return;
  }
  uint32_t off = 2;
  if (flags & kL2tpL) {
    uint32_t length = Load16(l2 + off);
    off += 2;
    if (length > l2_len || length < 6) {
      DropSa(m, Reason::k_l2tp_bad_header, sa_index);
      return;
    }
    l2_len = length;
  }
  if (off + 4 > l2_len) {
    DropSa(m, Reason::k_l2tp_bad_header, sa_index);
    return;
  }
  const uint16_t tid = Load16(l2 + off);
  const uint16_t sid = Load16(l2 + off + 2);
  off += 4;

  // Only punts carry the metadata: built on those paths, not per data packet.
  auto make_meta = [&](uint32_t session_index) {
    shm::PacketMeta meta{};
    meta.port = o.port;
    meta.flags = o.flags;
    meta.sa_index = sa_index;
    meta.session_index = session_index;
    meta.outer_src_ip = o.src;
    meta.outer_dst_ip = o.dst;
    meta.outer_src_port = o.sport;
    meta.outer_dst_port = o.dport;
    meta.tunnel_id = tid;
    meta.l2tp_session_id = sid;
    meta.inner_src_ip = o.inner_src;
    meta.inner_dst_ip = o.inner_dst;
    meta.inner_src_port = o.inner_sport;
    meta.inner_dst_port = o.inner_dport;
    return meta;
  };

  if (flags & kL2tpT) {
    // Control messages carry L and S and no offset (RFC 2661 section 3.1).
    if ((flags & (kL2tpL | kL2tpS | kL2tpO)) != (kL2tpL | kL2tpS)) {
      DropSa(m, Reason::k_l2tp_bad_header, sa_index);
      return;
    }
    shm::PacketMeta meta = make_meta(shm::kInvalidIndex);
    Punt(shm::PuntKind::kL2tpControl, meta, l2, uint16_t(l2_len), nullptr, 0,
         Reason::k_punt_l2tp_control);
    rte_pktmbuf_free(m);
    return;
  }
  if (flags & kL2tpS) off += 4;  // Ns, Nr: we do not reorder data
  if (flags & kL2tpO) {
    if (off + 2 > l2_len) {
      DropSa(m, Reason::k_l2tp_bad_header, sa_index);
      return;
    }
    off += 2 + Load16(l2 + off);
  }
  if (off > l2_len) {
    DropSa(m, Reason::k_l2tp_bad_header, sa_index);
    return;
  }
  uint8_t* ppp = l2 + off;
  uint32_t ppp_len = l2_len - off;
  if (ppp_len >= 2 && ppp[0] == kPppAddress && ppp[1] == kPppControl) {
    ppp += 2;
    ppp_len -= 2;
  }
  uint16_t proto;
  if (ppp_len >= 1 && (ppp[0] & 1)) {  // compressed protocol field
    proto = ppp[0];
    ppp += 1;
    ppp_len -= 1;
  } else if (ppp_len >= 2 && (ppp[1] & 1)) {
    proto = Load16(ppp);
    ppp += 2;
    ppp_len -= 2;
  } else {
    DropSa(m, Reason::k_ppp_bad_frame, sa_index);
    return;
  }

  const SessionRuntime* s = LookupSession(sa, tid, sid);
  uint8_t proto_bytes[2] = {uint8_t(proto >> 8), uint8_t(proto)};
  if (!s) {
    // Before IPCP completes the control plane has not installed the
    // session: its LCP/auth/IPCP frames go up with the ids in meta.
    if (proto == kPppIpv4) {
      DropSa(m, Reason::k_l2tp_unknown_session, sa_index);
      return;
    }
    shm::PacketMeta meta = make_meta(shm::kInvalidIndex);
    Punt(shm::PuntKind::kPppControl, meta, proto_bytes, 2, ppp, uint16_t(ppp_len),
         Reason::k_punt_ppp_control);
    rte_pktmbuf_free(m);
    return;
  }
  // The session must arrive through the SA it was set up on: another
  // client's SA carrying this session id is an attack (or a bug).
  if (!Runtime::SessionAcceptsSa(s, sa_index)) {
    DropSa(m, Reason::k_l2tp_wrong_sa, sa_index);
    return;
  }
  if (proto != kPppIpv4) {
    shm::PacketMeta meta = make_meta(s->index);
    Punt(shm::PuntKind::kPppControl, meta, proto_bytes, 2, ppp, uint16_t(ppp_len),
         Reason::k_punt_ppp_control);
    rte_pktmbuf_free(m);
    return;
  }
  uint32_t ihl, total;
  if (!ValidIpv4(ppp, ppp_len, &ihl, &total)) {
    DropSa(m, Reason::k_inner_bad_ipv4, sa_index);
    return;
  }
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ppp);
  if (ip->src != s->assigned_ip) {
    DropSa(m, Reason::k_inner_spoofed_source, sa_index);
    return;
  }
  if (s->index < sess_limit_) {
    shm::SessionCounters& sc = SessionRow(*s);
    sc.rx_packets++;
    sc.rx_bytes += total;
  }
  ForwardInner(m, ppp, total, s);
}

void Worker::ForwardInner(rte_mbuf* m, uint8_t* ipb, uint32_t len,
                          const SessionRuntime* from) {
  auto* ip = reinterpret_cast<Ipv4Hdr*>(ipb);
  if (ip->ttl <= 1) {
    TtlExpired(m, ip, len, from, -1);
    return;
  }
  const uint32_t dst = ip->dst;
  uint8_t* start = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t port;
  uint32_t nh;
  if (inner_route_.valid && inner_route_.dst == dst) {
    // Same destination as a packet earlier in this poll (Worker::RouteMemo).
    port = inner_route_.port;
    nh = inner_route_.nh;
  } else {
    // Client to client (hairpin): any installed client address, in a pool
    // or not; a pool address without a session goes nowhere else either.
    const SessionRuntime* to = rt_->SessionByIp(dst);
    if (to || rt_->InPool(dst)) {
      if (!to) {
        Drop(m, Reason::k_lan_no_session);
        return;
      }
      DecrementTtl(ip);
      rte_pktmbuf_adj(m, uint16_t(ipb - start));
      rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - len));
      Count(Reason::k_hairpin);
      ToSession(m, to, -1);
      return;
    }
    if (rt_->IsOurAddress(dst)) {
      Drop(m, Reason::k_rx_not_for_us);
      return;
    }
    if (!rt_->Route(dst, &port, &nh)) {
      Drop(m, Reason::k_rx_no_route);
      return;
    }
    inner_route_ = {dst, nh, port, true};
  }
  DecrementTtl(ip);
  // Reuse the bytes before the inner header for the new Ethernet header.
  rte_pktmbuf_adj(m, uint16_t(ipb - start - sizeof(EthHdr)));
  rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - sizeof(EthHdr) - len));
  SendVia(port, nh, m);
}

}  // namespace vpn::dp
