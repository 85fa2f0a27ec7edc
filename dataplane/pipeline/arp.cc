// ARP (RFC 826): answer for our port addresses and, on LAN ports with
// proxy_arp (RFC 1027), for every client address: any address with an
// installed session (RADIUS Framed-IP-Address and per-user static addresses
// may lie outside the pools) and every pool address, so clients share the
// LAN segment (seed 004). Pool addresses are answered even before their
// session exists so that a LAN host's ARP cache does not hold a failure for
// a client that is just connecting. Learning goes to housekeeping, the
// table's one writer.
#include <cstring>

#include <rte_mbuf.h>

#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {

void Worker::ArpInput(rte_mbuf* m, uint8_t port) {
  const uint32_t len = rte_pktmbuf_data_len(m);
  if (len < sizeof(EthHdr) + sizeof(ArpHdr)) {
    Drop(m, Reason::k_rx_truncated);
    return;
  }
  auto* eth = rte_pktmbuf_mtod(m, EthHdr*);
  auto* arp = reinterpret_cast<ArpHdr*>(eth + 1);
  if (Be16(arp->htype) != 1 || Be16(arp->ptype) != kEtherTypeIpv4 || arp->hlen != 6 ||
      arp->plen != 4) {
    Drop(m, Reason::k_arp_ignored);
    return;
  }
  const PortInfo& pi = rt_->ports[port];
  const uint16_t op = Be16(arp->op);
  const bool for_us = arp->tpa == pi.addr;
  if (op == kArpReply) {
    if (!for_us || arp->spa == 0) {
      Drop(m, Reason::k_arp_ignored);
      return;
    }
    HkEvent ev{};
    ev.kind = HkEvent::kLearn;
    ev.ip = arp->spa;
    std::memcpy(ev.mac, arp->sha, 6);
    ev.port = port;
    PostEvent(ev);
    Drop(m, Reason::k_arp_reply_learned);
    return;
  }
  if (op != kArpRequest) {
    Drop(m, Reason::k_arp_ignored);
    return;
  }
  const bool proxied = !for_us && pi.proxy_arp && pi.role == config::PortRole::kLan &&
                       arp->tpa != arp->spa &&
                       (rt_->InPool(arp->tpa) || rt_->SessionByIp(arp->tpa) != nullptr);
  if (!for_us && !proxied) {
    Drop(m, Reason::k_arp_ignored);
    return;
  }
  if (for_us && arp->spa != 0) {
    // RFC 826 "merge": a host asking for us will talk to us; remember it.
    HkEvent ev{};
    ev.kind = HkEvent::kLearn;
    ev.ip = arp->spa;
    std::memcpy(ev.mac, arp->sha, 6);
    ev.port = port;
    PostEvent(ev);
  }
  const uint32_t target = arp->tpa;
  arp->op = Be16(kArpReply);
  std::memcpy(arp->tha, arp->sha, 6);
  arp->tpa = arp->spa;
  std::memcpy(arp->sha, pi.mac, 6);
  arp->spa = target;
  std::memcpy(eth->dst, arp->tha, 6);
  std::memcpy(eth->src, pi.mac, 6);
  Count(Reason::k_arp_request_answered);
  Send(port, m);
}

void Worker::SendArpRequest(uint8_t port, uint32_t ip) {
  rte_mbuf* m = rte_pktmbuf_alloc(sh_->pool);
  if (!m) {
    Count(Reason::k_mbuf_alloc_failed);
    return;
  }
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 60));
  if (!p) {
    rte_pktmbuf_free(m);
    return;
  }
  std::memset(p, 0, 60);
  auto* eth = reinterpret_cast<EthHdr*>(p);
  const PortInfo& pi = rt_->ports[port];
  std::memset(eth->dst, 0xFF, 6);
  std::memcpy(eth->src, pi.mac, 6);
  eth->type = Be16(kEtherTypeArp);
  auto* arp = reinterpret_cast<ArpHdr*>(eth + 1);
  arp->htype = Be16(1);
  arp->ptype = Be16(kEtherTypeIpv4);
  arp->hlen = 6;
  arp->plen = 4;
  arp->op = Be16(kArpRequest);
  std::memcpy(arp->sha, pi.mac, 6);
  arp->spa = pi.addr;
  arp->tpa = ip;
  Send(port, m);
}

}  // namespace vpn::dp
