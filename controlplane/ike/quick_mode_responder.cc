// Quick Mode responder (RFC 2409 5.5; NAT-T RFC 3947 5; L2TP/IPsec
// transport mode per RFC 3193 5):
//   1  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr] [, NAT-OAi, NAT-OAr] -->
//      <-- 2  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, NAT-OA..] [, N]
//   3  HDR*, HASH(3)                                                  -->
// HASH(1) = prf(SKEYID_a, M-ID | rest), HASH(2) = prf(SKEYID_a, M-ID |
// Ni_b | rest), HASH(3) = prf(SKEYID_a, 0 | M-ID | Ni_b | Nr_b).
#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {
namespace {

constexpr uint16_t kL2tpPort = 1701;
constexpr uint8_t kUdp = 17;

// RFC 3193 5: the SA protects UDP/1701 between the two hosts. Windows and
// Apple send proto 17 with port 1701 or 0; proto 0 (any) is accepted too.
bool L2tpSelector(const IdPayload& id) {
  return id.type == IdType::kIpv4Addr && (id.protocol == 0 || id.protocol == kUdp) &&
         (id.port == 0 || id.port == kL2tpPort);
}

bool EncapAcceptable(uint16_t mode, bool nat, NatT dialect) {
  if (!nat) return mode == encap::kTransport;
  if (mode == encap::kUdpTransport) return dialect == NatT::kRfc3947 || dialect == NatT::kDraft;
  return mode == encap::kUdpTransportDraft && dialect != NatT::kNone;
}

}  // namespace

void QuickModeResponder::OnMessage1(IkeSa& sa, ByteSpan raw, const Header& h) {
  const uint32_t mid = h.message_id;
  auto opened = Open(raw, sa.cipher, e_.Phase2Iv(sa, mid));
  if (!opened.ok() || opened->msg.payloads.empty() ||
      opened->msg.payloads[0].type != PayloadType::kHash) {
    ++e_.counters().rx_decrypt_failed;
    VPN_LOG(ike, kEvent, "%s: Quick Mode 1 did not decrypt", sa.PeerName());
    return;
  }
  const Message& m = opened->msg;
  Bytes want = Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(mid), AfterHash(m)}));
  if (!SecureEqual(want, m.payloads[0].body)) {
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie,
              NotifyType::kInvalidHashInformation, &Counters::invalid_hash, "Quick Mode HASH(1)");
    return;
  }
  e_.NoteHeardFrom(sa);
  auto refuse = [&](NotifyType n, uint64_t Counters::*c, const std::string& why) {
    e_.FinishMessageId(sa, mid);
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, n, c, why);
  };
  const RawPayload* sap = m.Find(PayloadType::kSa);
  const RawPayload* ni = m.Find(PayloadType::kNonce);
  int ids = m.Count(PayloadType::kId);
  if (!sap || !ni || ni->body.size() > 256 || (ids != 0 && ids != 2) ||
      m.Count(PayloadType::kSa) != 1)
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "Quick Mode 1 needs SA, Ni and zero or two IDs");
  auto offered = ParseSa(sap->body);
  if (!offered.ok())
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "Quick Mode SA: " + std::string(offered.status().message()));

  auto qm = std::make_unique<QuickMode>();
  qm->message_id = mid;
  qm->ni = ni->body;
  qm->commit = h.flags & flags::kCommit;
  if (ids == 2) {
    auto ci = ParseId(m.Find(PayloadType::kId, 0)->body);
    auto cr = ParseId(m.Find(PayloadType::kId, 1)->body);
    if (!ci.ok() || !cr.ok() || !L2tpSelector(*ci) || !L2tpSelector(*cr))
      return refuse(NotifyType::kInvalidIdInformation, &Counters::invalid_id,
                    "Quick Mode IDs must select UDP port 1701 between the hosts");
    // Without a NAT, transport mode IDs name the peer's own address.
    if (!sa.peer_behind_nat && ci->Ipv4Address() != sa.remote.ip)
      return refuse(NotifyType::kInvalidIdInformation, &Counters::invalid_id,
                    "IDci " + ci->ToString() + " is not the peer's address");
    qm->idci = *ci;
    qm->idcr = *cr;
    qm->peer_inner_ip = ci->Ipv4Address();
  }
  for (PayloadType t : {PayloadType::kNatOa, PayloadType::kNatOaDraft})
    if (const RawPayload* oa = m.Find(t); oa && !qm->peer_inner_ip) {
      auto p = ParseNatOa(oa->body);
      if (p.ok() && p->address.size() == 4) {
        uint32_t ip;
        std::memcpy(&ip, p->address.data(), 4);
        qm->peer_inner_ip = ip;
      }
    }

  // Responder preference order over everything offered (RFC 2408 4.2).
  const bool nat = sa.peer_behind_nat || sa.local_behind_nat;
  const Proposal* chosen_p = nullptr;
  const Transform* chosen_t = nullptr;
  OfferedEsp chosen;
  const config::Ike& cfg = e_.cfg();
  for (const EspSuite& ours : e_.esp_suites()) {
    if (ours.weak() && !cfg.allow_weak_esp) continue;
    for (const auto& p : offered->proposals) {
      // Multi-protocol bundles (same number, e.g. ESP+IPCOMP) are not ours.
      int same_number = 0;
      for (const auto& q : offered->proposals) same_number += q.number == p.number;
      if (p.protocol != static_cast<uint8_t>(ProtocolId::kEsp) || p.spi.size() != 4 ||
          same_number != 1)
        continue;
      for (const auto& t : p.transforms) {
        auto o = TransformToEspSuite(t.id, t);
        if (!o.ok() || !EncapAcceptable(o->encap_mode, nat, sa.nat_t)) continue;
        const EspSuite& s = o->suite;
        // PFS: accept the initiator's group when we did not pin one; require
        // it when configured.
        bool pfs_ok = ours.pfs ? s.pfs.has_value() && *s.pfs == *ours.pfs
                               : !cfg.pfs_required || s.pfs.has_value();
        if (s.transform != ours.transform || s.key_bits != ours.key_bits ||
            s.auth.has_value() != ours.auth.has_value() || (s.auth && *s.auth != *ours.auth) ||
            !pfs_ok)
          continue;
        chosen_p = &p;
        chosen_t = &t;
        chosen = *o;
        break;
      }
      if (chosen_t) break;
    }
    if (chosen_t) break;
  }
  if (!chosen_t) {
    std::string offer;
    for (const auto& p : offered->proposals)
      for (const auto& t : p.transforms) {
        auto o = TransformToEspSuite(t.id, t);
        offer += (offer.empty() ? "" : ",") +
                 (o.ok() ? o->suite.ToString() + "/encap" + std::to_string(o->encap_mode) : "?");
      }
    return refuse(NotifyType::kNoProposalChosen, &Counters::qm_no_proposal_chosen,
                  "no acceptable ESP proposal among [" + offer + "]" +
                      (nat ? " (NAT: UDP-encapsulated transport needed)" : ""));
  }
  qm->suite = chosen.suite;
  qm->encap_mode = chosen.encap_mode;
  qm->proposal_number = chosen_p->number;
  qm->outbound_spi = GetU32(chosen_p->spi.data());
  qm->life = DecideLifetime(chosen.life, cfg.esp_lifetime_s, cfg.esp_lifetime_kb,
                            cfg.min_lifetime_s);
  Bytes ke_out;
  if (chosen.suite.pfs) {
    const RawPayload* ke = m.Find(PayloadType::kKe);
    if (!ke || ke->body.size() != DhPublicSize(*chosen.suite.pfs))
      return refuse(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                    "PFS without a matching KE");
    auto dh = DiffieHellman::Create(*chosen.suite.pfs);
    auto g = dh.ok() ? (*dh)->ComputeShared(ke->body) : absl::StatusOr<Bytes>(dh.status());
    if (!g.ok())
      return refuse(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                    "bad PFS public value");
    qm->gxy = std::move(*g);
    ke_out = (*dh)->public_value();
  }
  auto spi = e_.sink().AllocateInboundSpi();
  if (!spi.ok()) {
    e_.FinishMessageId(sa, mid);
    ++e_.counters().spi_alloc_failed;
    VPN_LOG(ike, kError, "%s: no inbound SPI: %s", sa.PeerName(), std::string(spi.status().message()));
    return;
  }
  qm->inbound_spi = *spi;
  qm->nr = RandomBytes(32);

  SaPayload reply_sa;
  Proposal rp;
  rp.number = chosen_p->number;
  rp.protocol = chosen_p->protocol;
  rp.spi = U32Bytes(qm->inbound_spi);
  rp.transforms = {*chosen_t};
  reply_sa.proposals = {rp};
  std::vector<RawPayload> rest = {Payload(PayloadType::kSa, EncodeSa(reply_sa)),
                                  Payload(PayloadType::kNonce, qm->nr)};
  if (!ke_out.empty()) rest.push_back(Payload(PayloadType::kKe, ke_out));
  if (qm->idci) {
    rest.push_back(Payload(PayloadType::kId, EncodeId(*qm->idci)));
    rest.push_back(Payload(PayloadType::kId, EncodeId(*qm->idcr)));
  }
  if (nat && sa.nat_t == NatT::kRfc3947) {
    // RFC 3947 5.2: transport mode sends both original addresses.
    Bytes oai(4), oar(4);
    uint32_t peer = sa.remote.ip;
    std::memcpy(oai.data(), &peer, 4);
    std::memcpy(oar.data(), &sa.local.ip, 4);
    rest.push_back(Payload(PayloadType::kNatOa, EncodeNatOa({IdType::kIpv4Addr, oai})));
    rest.push_back(Payload(PayloadType::kNatOa, EncodeNatOa({IdType::kIpv4Addr, oar})));
  }
  if (qm->life.notify) {
    NotifyPayload n;
    n.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
    n.spi = U32Bytes(qm->inbound_spi);
    n.type = NotifyType::kResponderLifetime;
    n.data = EncodeLifetimeAttributes(qm->life, false);
    rest.push_back(Payload(PayloadType::kNotify, EncodeNotify(n)));
    ++e_.counters().notifies_sent;
  }
  HashedChain hc = BuildHashedChain(rest, [&](ByteSpan r) {
    return Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(mid), qm->ni, r}));
  });
  Header rh;
  rh.icookie = sa.icookie;
  rh.rcookie = sa.rcookie;
  rh.exchange = ExchangeType::kQuickMode;
  rh.message_id = mid;
  if (qm->commit) rh.flags |= flags::kCommit;
  auto sealed = Seal(rh, hc.first, hc.chain, sa.cipher, opened->next_iv);
  if (!sealed.ok()) {
    e_.FinishMessageId(sa, mid);
    e_.sink().ReleaseInboundSpi(qm->inbound_spi);
    return;
  }
  qm->iv = sealed->next_iv;
  // RFC 2409 5.5 practice: the initiator installs both SAs when it has
  // message 2 and may send on its outbound (our inbound) before message 3
  // reaches us, so our inbound SA goes live now; our outbound waits for 3.
  if (!e_.InstallInboundChild(sa, *qm)) {
    e_.FinishMessageId(sa, mid);
    e_.DropQuickMode(sa, *qm, false, "inbound install failed");
    return;
  }
  // The exchange must finish before the half-open timeout; if message 3
  // never comes the inbound SA goes again.
  qm->timer = e_.ScheduleOn(sa, absl::Seconds(cfg.half_open_timeout_s), [this, mid](IkeSa& s) {
    auto it = s.quick_modes.find(mid);
    if (it == s.quick_modes.end()) return;
    ++e_.counters().exchange_timeouts;
    VPN_LOG(ike, kInfo, "%s: Quick Mode %08x timed out waiting for message 3", s.PeerName(), mid);
    it->second->timer = 0;
    e_.DropQuickMode(s, *it->second, true, "Quick Mode 3 never came");
    e_.FinishMessageId(s, mid);
    s.quick_modes.erase(it);
  });
  VPN_LOG(ike, kEvent, "%s: Quick Mode %08x: chose %s encap %d, %ds/%dKB", sa.PeerName(), mid,
          qm->suite.ToString(), qm->encap_mode, qm->life.seconds, qm->life.kilobytes);
  qm->last_sent = sealed->msg;
  sa.quick_modes[mid] = std::move(qm);
  e_.Answer(sa, raw, sealed->msg);
  ArmRetransmit(sa, mid, 0);
}

// Only the initiator's message 3 confirms message 2; if 3 is lost the
// initiator has already installed its SAs and will not repeat message 1, so
// the responder repeats message 2 (the initiator answers a repeated 2 with 3).
void QuickModeResponder::ArmRetransmit(IkeSa& sa, uint32_t mid, int attempt) {
  auto it = sa.quick_modes.find(mid);
  if (it == sa.quick_modes.end() || attempt >= 4) return;
  it->second->retransmit_timer =
      e_.ScheduleOn(sa, absl::Seconds(2) * (1 << attempt), [this, mid, attempt](IkeSa& s) {
        auto q = s.quick_modes.find(mid);
        if (q == s.quick_modes.end()) return;
        q->second->retransmit_timer = 0;
        ++e_.counters().retransmits;
        e_.Send(s, q->second->last_sent);
        ArmRetransmit(s, mid, attempt + 1);
      });
}

void QuickModeResponder::OnMessage3(IkeSa& sa, QuickMode& qm, ByteSpan raw, const Header& h) {
  const uint32_t mid = qm.message_id;
  auto opened = Open(raw, sa.cipher, qm.iv);
  if (!opened.ok() || opened->msg.payloads.empty() ||
      opened->msg.payloads[0].type != PayloadType::kHash) {
    ++e_.counters().rx_decrypt_failed;
    return;
  }
  Bytes want = Prf(sa.suite.hash, sa.keys.skeyid_a,
                   Concat({Bytes{0}, U32Bytes(mid), qm.ni, qm.nr}));
  if (!SecureEqual(want, opened->msg.payloads[0].body)) {
    ++e_.counters().invalid_hash;
    VPN_LOG(ike, kWarn, "%s: Quick Mode HASH(3) did not verify", sa.PeerName());
    return;
  }
  e_.NoteHeardFrom(sa);
  bool commit = qm.commit || (h.flags & flags::kCommit);
  uint32_t spi = qm.inbound_spi;
  e_.timers().Cancel(qm.timer);
  e_.timers().Cancel(qm.retransmit_timer);
  qm.timer = qm.retransmit_timer = 0;
  e_.FinishMessageId(sa, mid);
  // The inbound half has been live since message 2; now the outbound half.
  bool ok = e_.CompleteChild(sa, qm);
  sa.quick_modes.erase(mid);  // qm is gone from here on
  if (ok && commit) {
    // RFC 2408 3.1 / RFC 2409 5.5: the commit bit asks for CONNECTED once
    // the SA is usable.
    NotifyPayload n;
    n.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
    n.spi = U32Bytes(spi);
    n.type = NotifyType::kConnected;
    ++e_.counters().notifies_sent;
    (void)e_.SendInformational(sa, {Payload(PayloadType::kNotify, EncodeNotify(n))});
  }
}

}  // namespace vpn::ike
