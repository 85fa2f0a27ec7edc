// Quick Mode initiator (RFC 2409 5.5) for L2TP/IPsec transport mode: our
// client side; also rekeys an ESP SA (new QM on the same IKE SA, the old SA
// deleted only after the new one is installed).
#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {

absl::Status QuickModeInitiator::Start(IkeSa& sa, uint32_t replaces_inbound_spi) {
  const auto& suites = e_.esp_suites();
  if (suites.empty()) return absl::FailedPreconditionError("no ESP proposals");
  auto spi = e_.sink().AllocateInboundSpi();
  if (!spi.ok()) {
    ++e_.counters().spi_alloc_failed;
    return spi.status();
  }
  auto qm = std::make_unique<QuickMode>();
  qm->initiator = true;
  qm->message_id = e_.NewMessageId(sa);
  qm->inbound_spi = *spi;
  qm->replaces_inbound_spi = replaces_inbound_spi;
  qm->ni = RandomBytes(32);
  qm->commit = e_.opts().commit;
  const uint32_t mid = qm->message_id;
  const bool nat = sa.peer_behind_nat || sa.local_behind_nat;
  uint16_t mode = !nat ? encap::kTransport
                  : sa.nat_t == NatT::kRfc3947 ? encap::kUdpTransport
                                               : encap::kUdpTransportDraft;
  Lifetime life;
  life.seconds = e_.cfg().esp_lifetime_s;
  if (e_.cfg().esp_lifetime_kb) life.kilobytes = e_.cfg().esp_lifetime_kb;
  SaPayload offer;
  Proposal p;
  p.number = 1;
  p.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
  p.spi = U32Bytes(qm->inbound_spi);
  // One KE serves every transform, so all PFS groups must agree with the first.
  std::optional<DhGroup> pfs = suites[0].pfs;
  for (size_t i = 0; i < suites.size() && i < 255; ++i) {
    if (suites[i].pfs != pfs) continue;
    p.transforms.push_back(EspSuiteToTransform(suites[i], static_cast<uint8_t>(i + 1), mode, life));
  }
  offer.proposals = {p};
  std::vector<RawPayload> rest = {Payload(PayloadType::kSa, EncodeSa(offer)),
                                  Payload(PayloadType::kNonce, qm->ni)};
  if (pfs) {
    auto dh = DiffieHellman::Create(*pfs);
    if (!dh.ok()) {
      e_.sink().ReleaseInboundSpi(qm->inbound_spi);
      return dh.status();
    }
    qm->dh = std::move(*dh);
    rest.push_back(Payload(PayloadType::kKe, qm->dh->public_value()));
  }
  uint32_t inner = e_.opts().inner_ip ? e_.opts().inner_ip : sa.local.ip;
  const InitiatorOptions& o = e_.opts();
  qm->idci = IdPayload::Ipv4(inner, o.qm_protocol, o.qm_port);
  qm->idcr = IdPayload::Ipv4(sa.remote.ip, o.qm_protocol, o.responder_port_zero ? 0 : o.qm_port);
  rest.push_back(Payload(PayloadType::kId, EncodeId(*qm->idci)));
  rest.push_back(Payload(PayloadType::kId, EncodeId(*qm->idcr)));
  if (nat) {
    Bytes oai(4), oar(4);
    std::memcpy(oai.data(), &inner, 4);
    std::memcpy(oar.data(), &sa.remote.ip, 4);
    rest.push_back(Payload(NatOaType(sa.nat_t), EncodeNatOa({IdType::kIpv4Addr, oai})));
    if (sa.nat_t == NatT::kRfc3947)
      rest.push_back(Payload(PayloadType::kNatOa, EncodeNatOa({IdType::kIpv4Addr, oar})));
  }
  HashedChain hc = BuildHashedChain(rest, [&](ByteSpan r) {
    return Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(mid), r}));
  });
  Header h;
  h.icookie = sa.icookie;
  h.rcookie = sa.rcookie;
  h.exchange = ExchangeType::kQuickMode;
  h.message_id = mid;
  if (qm->commit) h.flags |= flags::kCommit;
  auto sealed = Seal(h, hc.first, hc.chain, sa.cipher, e_.Phase2Iv(sa, mid));
  if (!sealed.ok()) {
    e_.sink().ReleaseInboundSpi(qm->inbound_spi);
    return sealed.status();
  }
  qm->iv = sealed->next_iv;
  qm->last_sent = sealed->msg;
  sa.quick_modes[mid] = std::move(qm);
  e_.Send(sa, sealed->msg);
  e_.ArmRetransmit(sa, mid);
  return absl::OkStatus();
}

void QuickModeInitiator::OnMessage2(IkeSa& sa, QuickMode& qm, ByteSpan raw, const Header&) {
  const uint32_t mid = qm.message_id;
  auto opened = Open(raw, sa.cipher, qm.iv);
  if (!opened.ok() || opened->msg.payloads.empty() ||
      opened->msg.payloads[0].type != PayloadType::kHash) {
    ++e_.counters().rx_decrypt_failed;
    return;
  }
  const Message& m = opened->msg;
  Bytes want =
      Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({U32Bytes(mid), qm.ni, AfterHash(m)}));
  if (!SecureEqual(want, m.payloads[0].body)) {
    ++e_.counters().invalid_hash;
    return;
  }
  e_.NoteHeardFrom(sa);
  const RawPayload* sap = m.Find(PayloadType::kSa);
  const RawPayload* nr = m.Find(PayloadType::kNonce);
  auto chosen = sap ? ParseSa(sap->body) : absl::StatusOr<SaPayload>(absl::InvalidArgumentError(""));
  if (!nr || !chosen.ok() || chosen->proposals.size() != 1 ||
      chosen->proposals[0].transforms.size() != 1 || chosen->proposals[0].spi.size() != 4) {
    ++e_.counters().payload_malformed;
    return Abandon(sa, mid, "malformed Quick Mode 2");
  }
  const Transform& t = chosen->proposals[0].transforms[0];
  auto o = TransformToEspSuite(t.id, t);
  bool offered = false;
  if (o.ok())
    for (const auto& s : e_.esp_suites()) offered |= s == o->suite;
  if (!offered) {
    ++e_.counters().qm_no_proposal_chosen;
    return Abandon(sa, mid, "responder chose an ESP transform we did not offer");
  }
  qm.suite = o->suite;
  qm.encap_mode = o->encap_mode;
  qm.outbound_spi = GetU32(chosen->proposals[0].spi.data());
  qm.nr = nr->body;
  qm.life.seconds = o->life.seconds.value_or(e_.cfg().esp_lifetime_s);
  qm.life.kilobytes = o->life.kilobytes.value_or(e_.cfg().esp_lifetime_kb);
  for (const RawPayload* np : All(m, PayloadType::kNotify)) {
    auto n = ParseNotify(np->body);
    if (n.ok() && n->type == NotifyType::kResponderLifetime) {
      Lifetime l = ParseLifetimeAttributes(n->data, false);
      if (l.seconds) qm.life.seconds = *l.seconds;
      if (l.kilobytes) qm.life.kilobytes = *l.kilobytes;
      VPN_LOG(ike, kEvent, "%s: RESPONDER-LIFETIME %ds/%dKB", sa.PeerName(), qm.life.seconds,
              qm.life.kilobytes);
    }
  }
  if (qm.dh) {
    const RawPayload* ke = m.Find(PayloadType::kKe);
    auto g = ke ? qm.dh->ComputeShared(ke->body) : absl::StatusOr<Bytes>(absl::InvalidArgumentError(""));
    if (!g.ok()) {
      ++e_.counters().invalid_key_info;
      return Abandon(sa, mid, "bad PFS KE");
    }
    qm.gxy = std::move(*g);
  }
  HashedChain hc = BuildHashedChain({}, [&](ByteSpan) {
    return Prf(sa.suite.hash, sa.keys.skeyid_a, Concat({Bytes{0}, U32Bytes(mid), qm.ni, qm.nr}));
  });
  Header h;
  h.icookie = sa.icookie;
  h.rcookie = sa.rcookie;
  h.exchange = ExchangeType::kQuickMode;
  h.message_id = mid;
  auto sealed = Seal(h, hc.first, hc.chain, sa.cipher, opened->next_iv);
  if (!sealed.ok()) return Abandon(sa, mid, "encryption failed");
  // A lost message 3 shows up as a repeated message 2: answer it again.
  e_.Answer(sa, raw, sealed->msg);
  e_.timers().Cancel(qm.timer);
  e_.FinishMessageId(sa, mid);
  uint32_t replaces = qm.replaces_inbound_spi;
  bool ok = e_.InstallChild(sa, qm);
  sa.quick_modes.erase(mid);
  // Rekey: the new inbound SA is live; only now retire the old pair.
  if (ok && replaces) e_.RemoveChild(sa, replaces, true, "rekeyed");
}

void QuickModeInitiator::Abandon(IkeSa& sa, uint32_t mid, const std::string& why) {
  auto it = sa.quick_modes.find(mid);
  if (it == sa.quick_modes.end()) return;
  VPN_LOG(ike, kWarn, "%s: Quick Mode %08x abandoned: %s", sa.PeerName(), mid, why);
  e_.DropQuickMode(sa, *it->second, true, why);
  e_.FinishMessageId(sa, mid);
  sa.quick_modes.erase(it);
}

}  // namespace vpn::ike
