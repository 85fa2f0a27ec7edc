// ESP in and out of the workers, in bursts. Inbound: the SA comes from the
// SPI in O(1) (shm::SpiIndex), must belong to the outer source, and is only
// ever decrypted by its owner worker (index % workers) because its replay
// window is single-writer (esp.h); other workers hand the packet over.
// After decryption, transport mode: the payload must be UDP to port 1701.
// Its UDP checksum is not verified: with NAT-T the client computed it over
// its private address (RFC 3948 section 3.1.2), and the ESP ICV already
// protects the data; we forward only the inner IPv4 packet, so no fix-up
// is needed either.
#include <cstring>

#include <rte_mbuf.h>

#include "crypto_adapter.h"
#include "net_headers.h"
#include "worker.h"

namespace vpn::dp {

// EspOutFlush hands esp_out_ to the engine in one submission.
static_assert(kBurst * 2 <= esp::Engine::kMaxStaged);

void Worker::PuntSaEvents(uint8_t events, uint32_t sa_index) {
  static constexpr struct {
    uint8_t bit;
    shm::PuntKind kind;
  } kMap[] = {{esp::kEventSoftLifetime, shm::PuntKind::kSaSoftLifetime},
              {esp::kEventHardLifetime, shm::PuntKind::kSaHardLifetime},
              {esp::kEventSeqOverflow, shm::PuntKind::kSaSeqOverflow}};
  for (const auto& e : kMap) {
    if (!(events & e.bit)) continue;
    shm::PacketMeta meta{};
    meta.sa_index = sa_index;
    meta.session_index = shm::kInvalidIndex;
    Punt(e.kind, meta, nullptr, 0, nullptr, 0, Reason::kCount);
  }
}

// Inbound ESP staged during a burst goes to the engine in one call. The
// engine keeps jobs in its multi-buffer lanes across calls (esp.h,
// streaming), so what comes back may be older packets; each job carries its
// own context (mbuf, SaRuntime, offsets). Per SA the packets still complete
// in submission order, and the replay window moves only for packets whose
// ICV verified (the engine re-checks the window on completion). Results
// are read in the engine's ring: up to two spans (it wraps).
void Worker::EspFlush() {
  if (!crypto_ || !StagedInbound(crypto_)) return;
  const esp::InboundSpans done = SubmitInbound(crypto_);
  EspInDone(done.p[0], done.n[0]);
  if (done.n[1]) EspInDone(done.p[1], done.n[1]);
}

// The full path of one finished inbound job (EspInDone in fast_path.cc
// takes the common case).
void Worker::EspInSlow(const esp::InboundJob& j) {
  rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
  const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
  const uint32_t esp_off = j.user_aux & 0xFFFF;
  const uint8_t port = uint8_t(j.user_aux >> 16);
  const bool natt = (j.user_aux >> 24) & 1;
  const uint32_t idx = sa->index;
  if (j.events) PuntSaEvents(j.events, idx);
  if (j.verdict != esp::kOk) {
    DropSa(m, j.verdict, idx);
    return;
  }
  if (idx < sa_limit_) {
    shm::SaCounters& c = SaRow(*sa);
    c.packets++;
    c.bytes += j.payload_len;
    c.last_seen_tsc = tsc_now_;
  }
  if (j.next_header != kIpProtoUdp || j.payload_len < sizeof(UdpHdr)) {
    // Includes dummy packets (next header 59), which carry nothing.
    DropSa(m, Reason::k_esp_bad_next_header, idx);
    return;
  }
  const auto* udp = reinterpret_cast<const UdpHdr*>(j.payload);
  const uint32_t udp_len = Be16(udp->len);
  if (udp_len < sizeof(UdpHdr) || udp_len > j.payload_len) {
    DropSa(m, Reason::k_policy_not_l2tp, idx);
    return;
  }
  const uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(p + sizeof(EthHdr));
  Outer o{};
  o.src = ip->src;
  o.dst = ip->dst;
  if (natt) {
    const auto* oudp = reinterpret_cast<const UdpHdr*>(p + esp_off - sizeof(UdpHdr));
    o.sport = oudp->src;
    o.dport = oudp->dst;
  }
  o.inner_src = ip->src;
  o.inner_dst = ip->dst;
  o.inner_sport = udp->src;
  o.inner_dport = udp->dst;
  o.sa_index = idx;
  o.flags = shm::kMetaViaEsp | (natt ? shm::kMetaNatT : 0);
  o.port = port;
  L2tpInput(m, j.payload, udp_len, o, sa);
}

// Outbound jobs are built in esp_out_ (encap.cc) and copied into the
// engine's ring; the results are read there.
void Worker::EspOutFlush() {
  const uint16_t n = n_esp_out_;
  if (!n) return;
  n_esp_out_ = 0;
  const esp::OutboundSpans done = SubmitOutbound(crypto_, esp_out_, n);
  EspOutDone(done.p[0], done.n[0]);
  if (done.n[1]) EspOutDone(done.p[1], done.n[1]);
}

// The full path of one finished outbound job (EspOutDone in fast_path.cc).
void Worker::EspOutSlow(const esp::OutboundJob& j) {
  const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
  rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
  if (j.events) PuntSaEvents(j.events, sa->index);
  if (j.verdict != esp::kOk) {
    DropSa(m, j.verdict, sa->index);
    return;
  }
  const uint32_t payload_len = rte_pktmbuf_data_len(m);
  const uint32_t head = uint32_t(j.payload - j.esp);
  rte_pktmbuf_prepend(m, uint16_t(head));
  rte_pktmbuf_append(m, uint16_t(j.esp_len - head - payload_len));
  if (sa->index < sa_limit_) {
    shm::SaCounters& c = SaRow(*sa);
    c.packets++;
    c.bytes += payload_len;
    c.last_seen_tsc = tsc_now_;
  }
  const uint32_t src = sa->local_ip ? sa->local_ip : rt_->ports[rt_->wan_port].addr;
  if (sa->encap == shm::Encap::kUdp) {
    auto* udp = reinterpret_cast<UdpHdr*>(rte_pktmbuf_prepend(m, sizeof(UdpHdr)));
    if (!udp) {
      Drop(m, Reason::k_mbuf_alloc_failed);
      return;
    }
    // RFC 3948 section 2.1: the checksum SHOULD be zero.
    udp->src = sa->local_port ? sa->local_port : Be16(kPortNatT);
    udp->dst = sa->peer_port ? sa->peer_port : Be16(kPortNatT);
    udp->len = Be16(uint16_t(rte_pktmbuf_pkt_len(m)));
    udp->csum = 0;
    SendWanIp(m, src, sa->peer_ip, kIpProtoUdp);
  } else {
    SendWanIp(m, src, sa->peer_ip, kIpProtoEsp);
  }
}

// Completes every ESP job in flight, both directions. Inbound first: its
// packets may turn into outbound ones (hairpin between sessions).
void Worker::DrainCrypto() {
  if (CryptoInFlight(crypto_)) {  // staged jobs too
    const esp::InboundSpans in = DrainInbound(crypto_);
    EspInDone(in.p[0], in.n[0]);
    if (in.n[1]) EspInDone(in.p[1], in.n[1]);
  }
  EspOutFlush();
  if (CryptoInFlight(crypto_)) {
    const esp::OutboundSpans out = DrainOutbound(crypto_);
    EspOutDone(out.p[0], out.n[0]);
    if (out.n[1]) EspOutDone(out.p[1], out.n[1]);
  }
}

}  // namespace vpn::dp
