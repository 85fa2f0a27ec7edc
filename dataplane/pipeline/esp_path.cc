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
void Worker::EspCollect(rte_mbuf* m, uint8_t port, uint32_t esp_off, bool natt) {
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = rte_pktmbuf_data_len(m) - esp_off;
  if (len < esp::kEspHeaderLen) {
    Drop(m, Reason::k_esp_truncated);
    return;
  }
  const uint32_t spi = Load32(p + esp_off);
  const SaRuntime* sa = rt_->InboundSaBySpi(spi);
  if (!sa || !sa->crypto) {
    Drop(m, Reason::k_esp_unknown_spi);
    return;
  }
  const auto* ip = reinterpret_cast<const Ipv4Hdr*>(p + sizeof(EthHdr));
  if (ip->src != sa->peer_ip) {
    DropSa(m, Reason::k_esp_wrong_peer, sa->index);
    return;
  }
  // The control plane hands out inbound and outbound slots alternately, so
  // inbound indices share their parity: mix the index (Fibonacci hashing)
  // before taking it modulo the workers, or 2 workers would see one idle.
  const uint32_t owner =
      uint32_t((uint64_t(uint32_t(sa->index * 0x9E3779B1u)) * sh_->n_workers) >> 32);
  if (owner != id_ && id_ < sh_->n_workers && sh_->handoff[owner]) {
    m->hash.usr = port;
    if (rte_ring_mp_enqueue(sh_->handoff[owner], m) != 0)
      Drop(m, Reason::k_handoff_ring_full);
    return;
  }
  if (n_esp_in_ == sizeof(esp_in_) / sizeof(esp_in_[0])) EspFlush();
  esp_in_[n_esp_in_++] = {m, sa, esp_off, port, natt};
}

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

// Inbound ESP collected during a burst goes to the engine in one call. The
// engine keeps jobs in its multi-buffer lanes across calls (esp.h,
// streaming), so what comes back may be older packets; each job carries its
// own context (mbuf, SaRuntime, offsets). Per SA the packets still complete
// in submission order, and the replay window moves only for packets whose
// ICV verified (the engine re-checks the window on completion).
void Worker::EspFlush() {
  const uint16_t n = n_esp_in_;
  if (!n) return;
  n_esp_in_ = 0;
  esp::InboundJob jobs[sizeof(esp_in_) / sizeof(esp_in_[0])];
  for (uint16_t i = 0; i < n; ++i) {
    const EspIn& e = esp_in_[i];
    esp::InboundJob& j = jobs[i];
    j.sa = &e.sa->crypto->ctx;
    j.esp = rte_pktmbuf_mtod(e.m, uint8_t*) + e.esp_off;
    j.len = rte_pktmbuf_data_len(e.m) - e.esp_off;
    j.user = e.m;
    j.user_ctx = e.sa;
    j.user_aux = e.esp_off | uint32_t(e.port) << 16 | uint32_t(e.natt) << 24;
  }
  esp::InboundJob done[sizeof(esp_in_) / sizeof(esp_in_[0]) + kCryptoMaxInFlight];
  EspInDone(done, DecryptSubmit(crypto_, jobs, n, done));
}

void Worker::EspInDone(esp::InboundJob* done, uint16_t n) {
  // Three prefetch stages over the completions before the per-packet work
  // (with many sessions every level is a cache miss; docs/perf.md): the SA's
  // counters and the session table slot, then the session pointer and
  // counters, then the session record.
  // A key equal to the previous packet's is skipped (one busy session: the
  // lookup cache in L2tpInput has it).
  // A burst whose first and last packets share the SA is taken as one
  // session's (the lookup cache in L2tpInput serves it): the passes would
  // only cost time.
  if (n > 1 && done[0].user_ctx != done[n - 1].user_ctx) {
    uint32_t sess[sizeof(esp_in_) / sizeof(esp_in_[0]) + kCryptoMaxInFlight];
    uint32_t prev_key = LookupTable::kNotFound;
    const void* prev_sa = nullptr;
    for (uint16_t i = 0; i < n; ++i) {
      const esp::InboundJob& j = done[i];
      const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
      if (sa != prev_sa && sa->index < sa_limit_) rte_prefetch0(&sa_ctr_[sa->index]);
      prev_sa = sa;
      const uint32_t key = j.verdict == esp::kOk ? L2tpSessionKey(j.payload, j.payload_len)
                                                 : LookupTable::kNotFound;
      sess[i] = key == prev_key ? LookupTable::kNotFound : key;
      prev_key = key;
      if (sess[i] != LookupTable::kNotFound) rt_->PrefetchSessionKey(sess[i]);
    }
    for (uint16_t i = 0; i < n; ++i) {
      if (sess[i] == LookupTable::kNotFound) continue;
      sess[i] = rt_->PrefetchSessionSlot(sess[i]);
      if (sess[i] < sess_limit_) rte_prefetch0(&sess_ctr_[sess[i]]);
    }
    for (uint16_t i = 0; i < n; ++i) {
      if (sess[i] != LookupTable::kNotFound) rt_->PrefetchSessionRecord(sess[i]);
    }
  }
  for (uint16_t i = 0; i < n; ++i) {
    const esp::InboundJob& j = done[i];
    rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
    const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
    const uint32_t esp_off = j.user_aux & 0xFFFF;
    const uint8_t port = uint8_t(j.user_aux >> 16);
    const bool natt = (j.user_aux >> 24) & 1;
    const uint32_t idx = sa->index;
    if (j.events) PuntSaEvents(j.events, idx);
    if (j.verdict != esp::kOk) {
      DropSa(m, j.verdict, idx);
      continue;
    }
    if (idx < sa_limit_) {
      shm::SaCounters& c = sa_ctr_[idx];
      c.packets++;
      c.bytes += j.payload_len;
      c.last_seen_tsc = tsc_now_;
    }
    if (j.next_header != kIpProtoUdp || j.payload_len < sizeof(UdpHdr)) {
      // Includes dummy packets (next header 59), which carry nothing.
      DropSa(m, Reason::k_esp_bad_next_header, idx);
      continue;
    }
    const auto* udp = reinterpret_cast<const UdpHdr*>(j.payload);
    const uint32_t udp_len = Be16(udp->len);
    if (udp_len < sizeof(UdpHdr) || udp_len > j.payload_len) {
      DropSa(m, Reason::k_policy_not_l2tp, idx);
      continue;
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
}

// The session key (tunnel id, session id) of an L2TP data packet (RFC 2661
// 3.1: flags, [length], tunnel id, session id) for the prefetch stages, or
// kNotFound. Only a hint: L2tpInput checks everything itself.
uint32_t Worker::L2tpSessionKey(const uint8_t* udp, uint32_t len) {
  if (len < sizeof(UdpHdr) + 10) return LookupTable::kNotFound;
  const uint8_t* l2 = udp + sizeof(UdpHdr);
  const uint16_t flags = Load16(l2);
  if (flags & kL2tpT) return LookupTable::kNotFound;
  const uint32_t off = (flags & kL2tpL) ? 4 : 2;
  return SessionKey(Load16(l2 + off), Load16(l2 + off + 2));
}

void Worker::EspOutFlush() {
  const uint16_t n = n_esp_out_;
  if (!n) return;
  n_esp_out_ = 0;
  esp::OutboundJob jobs[sizeof(esp_out_) / sizeof(esp_out_[0])];
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = esp_out_[i].m;
    esp::OutboundJob& j = jobs[i];
    j.sa = &esp_out_[i].sa->crypto->ctx;
    j.payload = rte_pktmbuf_mtod(m, uint8_t*);
    j.payload_len = rte_pktmbuf_data_len(m);
    j.headroom = rte_pktmbuf_headroom(m);
    j.tailroom = rte_pktmbuf_tailroom(m);
    j.next_header = kIpProtoUdp;
    j.user = m;
    j.user_ctx = esp_out_[i].sa;
  }
  esp::OutboundJob done[sizeof(esp_out_) / sizeof(esp_out_[0]) + kCryptoMaxInFlight];
  EspOutDone(done, EncryptSubmit(crypto_, jobs, n, done));
}

void Worker::EspOutDone(esp::OutboundJob* done, uint16_t n) {
  const void* prev_sa = nullptr;
  for (uint16_t i = 0; i < n; ++i) {
    const auto* sa = static_cast<const SaRuntime*>(done[i].user_ctx);
    if (sa != prev_sa && sa->index < sa_limit_) rte_prefetch0(&sa_ctr_[sa->index]);
    prev_sa = sa;
  }
  for (uint16_t i = 0; i < n; ++i) {
    const esp::OutboundJob& j = done[i];
    const auto* sa = static_cast<const SaRuntime*>(j.user_ctx);
    rte_mbuf* m = static_cast<rte_mbuf*>(j.user);
    if (j.events) PuntSaEvents(j.events, sa->index);
    if (j.verdict != esp::kOk) {
      DropSa(m, j.verdict, sa->index);
      continue;
    }
    const uint32_t payload_len = rte_pktmbuf_data_len(m);
    const uint32_t head = uint32_t(j.payload - j.esp);
    rte_pktmbuf_prepend(m, uint16_t(head));
    rte_pktmbuf_append(m, uint16_t(j.esp_len - head - payload_len));
    if (sa->index < sa_limit_) {
      shm::SaCounters& c = sa_ctr_[sa->index];
      c.packets++;
      c.bytes += payload_len;
      c.last_seen_tsc = tsc_now_;
    }
    const uint32_t src = sa->local_ip ? sa->local_ip : rt_->ports[rt_->wan_port].addr;
    if (sa->encap == shm::Encap::kUdp) {
      auto* udp = reinterpret_cast<UdpHdr*>(rte_pktmbuf_prepend(m, sizeof(UdpHdr)));
      if (!udp) {
        Drop(m, Reason::k_mbuf_alloc_failed);
        continue;
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
}

// Completes every ESP job in flight, both directions. Inbound first: its
// packets may turn into outbound ones (hairpin between sessions).
void Worker::DrainCrypto() {
  EspFlush();
  if (CryptoInFlight(crypto_)) {
    esp::InboundJob in[kCryptoMaxInFlight];
    EspInDone(in, DecryptDrain(crypto_, in));
  }
  EspOutFlush();
  if (CryptoInFlight(crypto_)) {
    esp::OutboundJob out[kCryptoMaxInFlight];
    EspOutDone(out, EncryptDrain(crypto_, out));
  }
}

}  // namespace vpn::dp
