// WAN receive: Ethernet/IPv4 checks, then the demultiplexer of RFC 3948
// section 2 (UDP 500 IKE, UDP 4500 with non-ESP marker, keepalive or ESP),
// raw ESP (IP protocol 50) and, when IPsec is not required, clear L2TP.
// Fragments are reassembled first (reassembly.cc) or dropped by policy.
#include <cstring>

#include <rte_mbuf.h>

#include "crypto_adapter.h"
#include "ipv4_check.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {
namespace {

bool IsBroadcast(const uint8_t* mac) {
  return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xFF;
}

// The first message of a new IKE exchange: the responder's cookie/SPI (ISAKMP
// header bytes 8-15, RFC 2408 3.1; RFC 7296 3.1 alike) is still zero. These
// are what admission control sheds first when the control plane lags:
// dropping one costs a client a retransmission, while dropping an
// established session's control traffic can cost it the session.
bool IsNewIkeExchange(const uint8_t* ike, uint32_t len) {
  if (len < 16) return false;
  uint64_t responder;
  std::memcpy(&responder, ike + 8, sizeof responder);
  return responder == 0;
}

}  // namespace

void Worker::WanSlow(rte_mbuf* m, uint8_t port) {
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
  const PortInfo& pi = rt_->ports[port];
  const uint16_t type = Be16(eth->type);
  if (type == kEtherTypeArp) {
    ArpInput(m, port);
    return;
  }
  if (type != kEtherTypeIpv4) {
    Drop(m, Reason::k_rx_unknown_ethertype);
    return;
  }
  if (std::memcmp(eth->dst, pi.mac, 6) != 0 && !IsBroadcast(eth->dst)) {
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
  if (ip->dst != pi.addr) {
    Drop(m, Reason::k_rx_not_for_us);
    return;
  }
  if (IsFragment(ip)) {
    // Only what we would accept whole is worth a table entry.
    if (ip->proto != kIpProtoEsp && ip->proto != kIpProtoUdp) {
      Drop(m, Reason::k_rx_unhandled_protocol);
      return;
    }
    if (!sh_->reassemble) {
      Drop(m, Reason::k_rx_ip_fragment);
      return;
    }
    // The whole datagram (no longer a fragment) starts over from the top.
    if (rte_mbuf* whole = Reassemble(m, ip, ihl, total)) WanOne(whole, port);
    return;
  }
  // Ethernet padding beyond the IPv4 total length is not payload.
  if (len > sizeof(EthHdr) + total) rte_pktmbuf_trim(m, uint16_t(len - sizeof(EthHdr) - total));
  uint8_t* l4 = ipb + ihl;
  const uint32_t l4_len = total - ihl;

  if (ip->proto == kIpProtoEsp) {
    EspCollect(m, port, uint32_t(l4 - p), false);
    return;
  }
  if (ip->proto != kIpProtoUdp) {
    Drop(m, Reason::k_rx_unhandled_protocol);
    return;
  }
  if (l4_len < sizeof(UdpHdr)) {
    Drop(m, Reason::k_rx_truncated);
    return;
  }
  const auto* udp = reinterpret_cast<const UdpHdr*>(l4);
  const uint32_t udp_len = Be16(udp->len);
  if (udp_len < sizeof(UdpHdr) || udp_len > l4_len) {
    Drop(m, Reason::k_rx_truncated);
    return;
  }
  const uint16_t dport = Be16(udp->dst);
  const uint8_t* payload = l4 + sizeof(UdpHdr);
  const uint32_t plen = udp_len - sizeof(UdpHdr);

  // Only IKE punts carry metadata: not built for ESP (the fast path).
  auto ike_meta = [&](uint16_t flags) {
    shm::PacketMeta meta{};
    meta.port = port;
    meta.flags = flags;
    meta.sa_index = shm::kInvalidIndex;
    meta.session_index = shm::kInvalidIndex;
    meta.outer_src_ip = ip->src;
    meta.outer_dst_ip = ip->dst;
    meta.outer_src_port = udp->src;
    meta.outer_dst_port = udp->dst;
    return meta;
  };

  if (dport == kPortIke) {
    if (IsNewIkeExchange(payload, plen) && PuntRingCrowded()) {
      Drop(m, Reason::k_punt_ike_new_shed);
      return;
    }
    shm::PacketMeta meta = ike_meta(0);
    Punt(shm::PuntKind::kIke, meta, payload, uint16_t(plen), nullptr, 0, Reason::k_punt_ike);
    rte_pktmbuf_free(m);
    return;
  }
  if (dport == kPortNatT) {
    // RFC 3948 section 2.2/2.3: a single 0xFF is a keepalive; four zero
    // bytes mark IKE; anything else is ESP (an SPI is never zero).
    if (plen == 1 && payload[0] == 0xFF) {
      Drop(m, Reason::k_natt_keepalive);
      return;
    }
    if (plen >= 4 && Load32(payload) == 0) {
      if (IsNewIkeExchange(payload + 4, plen - 4) && PuntRingCrowded()) {
        Drop(m, Reason::k_punt_ike_new_shed);
        return;
      }
      shm::PacketMeta meta = ike_meta(shm::kMetaNatT);
      Punt(shm::PuntKind::kIke, meta, payload + 4, uint16_t(plen - 4), nullptr, 0,
           Reason::k_punt_ike);
      rte_pktmbuf_free(m);
      return;
    }
    // ESP must fit SPI + sequence; anything shorter is not ESP.
    if (plen < 8) {
      Drop(m, Reason::k_esp_truncated);
      return;
    }
    // The ESP payload ends where UDP says; drop any trailing bytes.
    uint32_t esp_end = uint32_t(payload - p) + plen;
    if (rte_pktmbuf_data_len(m) > esp_end) rte_pktmbuf_trim(m, uint16_t(rte_pktmbuf_data_len(m) - esp_end));
    EspCollect(m, port, uint32_t(payload - p), true);
    return;
  }
  if (dport == kPortL2tp) {
    if (rt_->require_ipsec) {
      Drop(m, Reason::k_l2tp_cleartext);
      return;
    }
    Outer o{};
    o.src = ip->src;
    o.dst = ip->dst;
    o.inner_src = ip->src;
    o.inner_dst = ip->dst;
    o.inner_sport = udp->src;
    o.inner_dport = udp->dst;
    o.sa_index = shm::kInvalidIndex;
    o.flags = shm::kMetaClearText;
    o.port = port;
    L2tpInput(m, l4, udp_len, o, nullptr);
    return;
  }
  Drop(m, Reason::k_rx_unhandled_protocol);
}

}  // namespace vpn::dp
