// Informational exchange (RFC 2409 5.7): HDR*, HASH(1), N/D with
// HASH(1) = prf(SKEYID_a, M-ID | N/D) and IV = hash(last phase 1 block |
// M-ID). Carries DELETE (RFC 2408 3.15), DPD (RFC 3706), INITIAL-CONTACT,
// RESPONDER-LIFETIME (RFC 2407 4.6.3) and error notifies.
#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {

void Informational::OnMessage(IkeSa* sa, const Endpoint&, const Endpoint& remote, ByteSpan raw,
                              const Header& h) {
  if (!(h.flags & flags::kEncryption)) {
    // Unauthenticated: log it; only our own half-open initiator SA acts on
    // an error (the responder refused us), so a forger cannot kill a live SA.
    auto m = ParsePlainMessage(raw);
    if (!m.ok()) {
      ++e_.counters().rx_malformed;
      return;
    }
    for (const RawPayload* p : All(*m, PayloadType::kNotify)) {
      auto n = ParseNotify(p->body);
      if (!n.ok()) continue;
      ++e_.counters().notifies_received;
      VPN_LOG(ike, kWarn, "%s: unprotected notify %s (%d)", remote.ToString(), NotifyName(n->type),
              static_cast<int>(n->type));
      if (sa && sa->initiator && !sa->established() && static_cast<uint16_t>(n->type) < 8192) {
        e_.DeleteIkeSa(*sa, "refused by peer: " + std::string(NotifyName(n->type)), false);
        return;
      }
    }
    return;
  }
  if (!sa || !sa->established()) {
    ++e_.counters().rx_unexpected;
    return;
  }
  OnProtected(*sa, raw, h);
}

void Informational::OnProtected(IkeSa& sa, ByteSpan raw, const Header& h) {
  auto opened = Open(raw, sa.cipher, e_.Phase2Iv(sa, h.message_id));
  if (!opened.ok() || opened->msg.payloads.empty() ||
      opened->msg.payloads[0].type != PayloadType::kHash) {
    ++e_.counters().rx_decrypt_failed;
    return;
  }
  const Message& m = opened->msg;
  Bytes want =
      Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(h.message_id), AfterHash(m)}));
  if (!SecureEqual(want, m.payloads[0].body)) {
    ++e_.counters().invalid_hash;
    VPN_LOG(ike, kWarn, "%s: Informational HASH(1) did not verify", sa.PeerName());
    return;
  }
  e_.NoteHeardFrom(sa);
  uint64_t id = sa.id();
  for (const RawPayload* p : All(m, PayloadType::kNotify)) {
    auto n = ParseNotify(p->body);
    if (!n.ok()) {
      ++e_.counters().payload_malformed;
      continue;
    }
    OnNotify(sa, *n, h.message_id);
    if (!e_.Find(id)) return;
  }
  for (const RawPayload* p : All(m, PayloadType::kDelete)) {
    auto d = ParseDelete(p->body);
    if (!d.ok()) {
      ++e_.counters().payload_malformed;
      continue;
    }
    OnDelete(sa, *d);
    if (!e_.Find(id)) return;
  }
}

void Informational::OnNotify(IkeSa& sa, const NotifyPayload& n, uint32_t) {
  ++e_.counters().notifies_received;
  switch (n.type) {
    case NotifyType::kRUThere: {
      if (n.spi != CookieSpi(sa) || n.data.size() != 4) {
        ++e_.counters().payload_malformed;
        return;
      }
      ++e_.counters().dpd_received;
      NotifyPayload ack = n;
      ack.type = NotifyType::kRUThereAck;
      ++e_.counters().notifies_sent;
      (void)e_.SendInformational(sa, {Payload(PayloadType::kNotify, EncodeNotify(ack))});
      return;
    }
    case NotifyType::kRUThereAck:
      if (n.data.size() == 4 && GetU32(n.data.data()) == sa.dpd_outstanding_seq)
        ++e_.counters().dpd_acks_received;
      return;
    case NotifyType::kResponderLifetime:
      if (n.protocol == static_cast<uint8_t>(ProtocolId::kIsakmp)) {
        Lifetime l = ParseLifetimeAttributes(n.data, true);
        if (l.seconds && *l.seconds < sa.lifetime_s) {
          sa.lifetime_s = *l.seconds;
          if (sa.lifetime_timer) e_.timers().Cancel(sa.lifetime_timer);
          absl::Duration left = sa.established_at + absl::Seconds(sa.lifetime_s) - e_.timers().Now();
          sa.lifetime_timer = e_.ScheduleOn(sa, std::max(left, absl::ZeroDuration()), [this](IkeSa& s) {
            s.lifetime_timer = 0;
            ++e_.counters().ike_sa_expired;
            e_.DeleteIkeSa(s, "lifetime expired", true);
          });
          VPN_LOG(ike, kEvent, "%s: IKE SA lifetime shortened to %ds by the peer", sa.PeerName(),
                  sa.lifetime_s);
        }
      }
      return;
    case NotifyType::kInitialContact:
    case NotifyType::kConnected:
      VPN_LOG(ike, kEvent, "%s: %s", sa.PeerName(), NotifyName(n.type));
      return;
    default:
      VPN_LOG(ike, kWarn, "%s: peer sent %s (%d)", sa.PeerName(), NotifyName(n.type),
              static_cast<int>(n.type));
      // An error while our Quick Modes are in flight: they were refused.
      if (static_cast<uint16_t>(n.type) < 8192 && sa.initiator) {
        std::vector<uint32_t> mids;
        for (const auto& [mid, qm] : sa.quick_modes)
          if (qm->initiator) mids.push_back(mid);
        for (uint32_t mid : mids)
          e_.qm_initiator().Abandon(sa, mid, "refused: " + std::string(NotifyName(n.type)));
      }
      return;
  }
}

void Informational::OnDelete(IkeSa& sa, const DeletePayload& d) {
  ++e_.counters().deletes_received;
  if (d.protocol == static_cast<uint8_t>(ProtocolId::kEsp) && d.spi_size == 4) {
    for (const Bytes& s : d.spis) {
      auto [owner, child] = e_.FindChildForPeerSpi(sa, GetU32(s.data()));
      if (!child) {
        VPN_LOG(ike, kEvent, "%s: DELETE for unknown ESP SPI %s", sa.PeerName(), Hex(s));
        continue;
      }
      e_.RemoveChild(*owner, child->inbound_spi, false, "deleted by peer");
    }
    return;
  }
  if (d.protocol == static_cast<uint8_t>(ProtocolId::kIsakmp) && d.spi_size == 16) {
    for (const Bytes& s : d.spis) {
      if (s == CookieSpi(sa)) {
        e_.DeleteIkeSa(sa, "deleted by peer", false);
        return;
      }
      // After a phase 1 rekey the peer may delete the old ISAKMP SA through
      // the new one (authenticated by it): only an SA of the same identity.
      IkeSa* named = e_.FindByCookies(GetU64(s.data()), GetU64(s.data() + 8));
      if (named && named != &sa && named->IdentityKey() == sa.IdentityKey())
        e_.DeleteIkeSa(*named, "deleted by peer", false);
    }
    return;
  }
  ++e_.counters().payload_malformed;
}

absl::Status Informational::SendDpd(IkeSa& sa) {
  NotifyPayload n;
  n.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  n.spi = CookieSpi(sa);
  n.type = NotifyType::kRUThere;
  sa.dpd_outstanding_seq = ++sa.dpd_seq_out;
  n.data = U32Bytes(sa.dpd_outstanding_seq);
  ++e_.counters().dpd_sent;
  return e_.SendInformational(sa, {Payload(PayloadType::kNotify, EncodeNotify(n))});
}

absl::Status Informational::SendDeleteIke(IkeSa& sa) {
  DeletePayload d;
  d.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  d.spi_size = 16;
  d.spis = {CookieSpi(sa)};
  ++e_.counters().deletes_sent;
  return e_.SendInformational(sa, {Payload(PayloadType::kDelete, EncodeDelete(d))});
}

absl::Status Informational::SendDeleteChild(IkeSa& sa, uint32_t inbound_spi) {
  // We name the SPI we receive on; the peer finds it as its outbound SA.
  DeletePayload d;
  d.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
  d.spi_size = 4;
  d.spis = {U32Bytes(inbound_spi)};
  ++e_.counters().deletes_sent;
  return e_.SendInformational(sa, {Payload(PayloadType::kDelete, EncodeDelete(d))});
}

}  // namespace vpn::ike
