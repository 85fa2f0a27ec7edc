// ICMP errors the dataplane originates as a router (RFC 1812): time
// exceeded when a forwarded packet's TTL runs out (section 5.3.1) and
// fragmentation needed when DF forbids fitting the session MTU (RFC 1191).
// Each worker rate-limits them with a token bucket on the TSC (section
// 4.3.2.8), so a flood of expiring packets costs one counter increment each.
//
// Why time exceeded rather than a silent drop: the concentrator is an IPv4
// hop for its clients (it decrements TTL both ways), so traceroute from a
// client or towards one should show it, and a routing loop behind the LAN
// should be visible to the sender. docs/config.md "ICMP" has the details.
#include <cstring>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {
namespace {

// RFC 1812 4.3.2.3: quote as much of the offending datagram as fits in 576
// bytes of ICMP datagram.
constexpr uint32_t kIcmpMaxDatagram = 576;

bool IsErrorType(uint8_t type) {
  // Destination unreachable, source quench, redirect, time exceeded,
  // parameter problem (RFC 792).
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

// An address an error may be sent to: not 0/8, loopback, multicast, class
// E or limited broadcast (RFC 1812 4.3.2.7, 5.3.7).
bool UnicastAddress(uint32_t a_no) {
  const uint8_t first = uint8_t(Be32(a_no) >> 24);
  return first != 0 && first != 127 && first < 224;
}

}  // namespace

bool Worker::IcmpAllowed() {
  if (!icmp_cost_) return false;
  const uint64_t cap = icmp_cost_ * (sh_->icmp_burst ? sh_->icmp_burst : 1);
  const uint64_t now = tsc_now_ ? tsc_now_ : rte_rdtsc();
  if (now > icmp_last_tsc_) {
    icmp_tokens_ += now - icmp_last_tsc_;
    if (icmp_tokens_ > cap) icmp_tokens_ = cap;
  }
  icmp_last_tsc_ = now;
  if (icmp_tokens_ < icmp_cost_) return false;
  icmp_tokens_ -= icmp_cost_;
  return true;
}

rte_mbuf* Worker::BuildIcmpError(const Ipv4Hdr* oip, uint32_t olen, uint8_t type, uint8_t code,
                                 uint16_t mtu, uint32_t src) {
  const uint32_t oihl = (oip->ver_ihl & 0x0F) * 4u;
  // RFC 1812 4.3.2.7: never about an ICMP error, a non-first fragment, or
  // a packet from/to an address that is not one host.
  if (oip->proto == kIpProtoIcmp && olen > oihl &&
      IsErrorType(reinterpret_cast<const uint8_t*>(oip)[oihl]))
    return nullptr;
  if (Be16(oip->frag) & kIpOffsetMask) return nullptr;
  if (!UnicastAddress(oip->src) || !UnicastAddress(oip->dst) || oip->dst == 0xFFFFFFFFu)
    return nullptr;
  if (!src) return nullptr;
  if (!IcmpAllowed()) {
    Count(Reason::k_icmp_rate_limited);
    return nullptr;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(sh_->pool);
  if (!m) {
    Count(Reason::k_mbuf_alloc_failed);
    return nullptr;
  }
  uint32_t quote = olen;
  if (quote > kIcmpMaxDatagram - sizeof(Ipv4Hdr) - sizeof(IcmpHdr))
    quote = kIcmpMaxDatagram - sizeof(Ipv4Hdr) - sizeof(IcmpHdr);
  const uint32_t total = sizeof(Ipv4Hdr) + sizeof(IcmpHdr) + quote;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, uint16_t(total)));
  if (!p) {
    rte_pktmbuf_free(m);
    Count(Reason::k_mbuf_alloc_failed);
    return nullptr;
  }
  auto* ip = reinterpret_cast<Ipv4Hdr*>(p);
  ip->ver_ihl = 0x45;
  ip->tos = 0xC0;  // RFC 1812 4.3.2.5: precedence 6 (internetwork control)
  ip->total_length = Be16(uint16_t(total));
  ip->id = Be16(ip_id_++);
  ip->frag = 0;
  ip->ttl = 64;
  ip->proto = kIpProtoIcmp;
  ip->csum = 0;
  ip->src = src;
  ip->dst = oip->src;
  ip->csum = Ipv4HeaderCsum(ip);
  auto* icmp = reinterpret_cast<IcmpHdr*>(ip + 1);
  icmp->type = type;
  icmp->code = code;
  icmp->csum = 0;
  icmp->unused = 0;
  icmp->next_mtu = Be16(mtu);
  std::memcpy(icmp + 1, oip, quote);
  icmp->csum = CsumFinish(CsumPartial(icmp, sizeof(IcmpHdr) + quote));
  return m;
}

void Worker::SendIcmpOnPort(rte_mbuf* icmp, uint8_t port, const uint8_t* dst_mac) {
  auto* eth = reinterpret_cast<EthHdr*>(rte_pktmbuf_prepend(icmp, sizeof(EthHdr)));
  if (!eth) {
    Drop(icmp, Reason::k_mbuf_alloc_failed);
    return;
  }
  std::memcpy(eth->dst, dst_mac, 6);
  std::memcpy(eth->src, rt_->ports[port].mac, 6);
  eth->type = Be16(kEtherTypeIpv4);
  Send(port, icmp);
}

void Worker::TtlExpired(rte_mbuf* m, const Ipv4Hdr* ip, uint32_t len,
                        const SessionRuntime* from, int lan_port) {
  if (from) {
    // Back into the tunnel it came from, from our end of the PPP link.
    if (rte_mbuf* icmp = BuildIcmpError(ip, len, 11, 0, 0, rt_->ppp_local_ip)) {
      Count(Reason::k_icmp_time_exceeded_sent);
      ToSession(icmp, from, -1);
    }
  } else if (lan_port >= 0) {
    // To the previous hop on the LAN: the frame's Ethernet source.
    const auto* eth = reinterpret_cast<const EthHdr*>(ip) - 1;
    if (rte_mbuf* icmp =
            BuildIcmpError(ip, len, 11, 0, 0, rt_->ports[lan_port].addr)) {
      Count(Reason::k_icmp_time_exceeded_sent);
      SendIcmpOnPort(icmp, uint8_t(lan_port), eth->src);
    }
  }
  Drop(m, Reason::k_rx_ttl_expired);
}

}  // namespace vpn::dp
