// Main Mode initiator (RFC 2409 5, pre-shared key; NAT-T RFC 3947): our
// client side, used by exchange tests and the client simulator.
#include "exchanges.h"
#include "sig_auth.h"
#include "vendor_ids.h"
#include "vpn/log.h"

namespace vpn::ike {
namespace {

Header MmHeader(const IkeSa& sa) {
  Header h;
  h.icookie = sa.icookie;
  h.rcookie = sa.rcookie;
  h.exchange = ExchangeType::kIdentityProtection;
  return h;
}

}  // namespace

absl::Status MainModeInitiator::Start(IkeSa& sa) {
  const auto& suites = e_.ike_suites();
  if (suites.empty()) return absl::FailedPreconditionError("no IKE proposals");
  SaPayload offer;
  Proposal p;
  p.number = 1;
  p.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  Lifetime life;
  life.seconds = e_.cfg().lifetime_s;
  for (size_t i = 0; i < suites.size() && i < 255; ++i)
    p.transforms.push_back(IkeSuiteToTransform(suites[i], static_cast<uint8_t>(i + 1), life));
  offer.proposals = {p};
  sa.sai_b = EncodeSa(offer);
  std::vector<RawPayload> out = {Payload(PayloadType::kSa, sa.sai_b)};
  const InitiatorOptions& o = e_.opts();
  if (o.send_ms_vid)
    out.push_back(Payload(PayloadType::kVendorId, Concat({VidBytes(Vid::kMsNt5), Bytes{0, 0, 0, 9}})));
  if (o.send_rfc3947_vid) out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kRfc3947)));
  if (o.send_draft_vids) {
    out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kNatTDraft02n)));
    out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kNatTDraft02)));
    out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kNatTDraft03)));
  }
  if (o.send_dpd_vid) out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kDpd)));
  if (o.send_frag_vid)
    out.push_back(Payload(PayloadType::kVendorId,
                          Concat({VidBytes(Vid::kFragmentation), Bytes{0x80, 0, 0, 0}})));
  sa.last_request = BuildPlainMessage(MmHeader(sa), out);
  sa.state = SaState::kMmI1Sent;
  e_.Send(sa, sa.last_request);
  e_.ArmRetransmit(sa, std::nullopt);
  return absl::OkStatus();
}

void MainModeInitiator::OnMessage(IkeSa& sa, ByteSpan raw, const Header& h) {
  switch (sa.state) {
    case SaState::kMmI1Sent:
      if (sa.rcookie == 0) sa.rcookie = h.rcookie;
      return OnMessage2(sa, raw);
    case SaState::kMmI3Sent: return OnMessage4(sa, raw);
    case SaState::kMmI5Sent: return OnMessage6(sa, raw);
    default: ++e_.counters().rx_unexpected;
  }
}

void MainModeInitiator::OnMessage2(IkeSa& sa, ByteSpan raw) {
  auto m = ParsePlainMessage(raw);
  const RawPayload* sp = m.ok() ? m->Find(PayloadType::kSa) : nullptr;
  auto chosen = sp ? ParseSa(sp->body) : absl::StatusOr<SaPayload>(absl::InvalidArgumentError(""));
  // RFC 2408 4.2: exactly one proposal with one transform, one we offered.
  if (!chosen.ok() || chosen->proposals.size() != 1 ||
      chosen->proposals[0].transforms.size() != 1) {
    ++e_.counters().payload_malformed;
    sa.rcookie = 0;
    return;
  }
  auto o = TransformToIkeSuite(chosen->proposals[0].transforms[0]);
  bool offered = false;
  if (o.ok())
    for (const auto& s : e_.ike_suites()) offered |= s == o->suite;
  if (!offered) {
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, std::nullopt,
              &Counters::no_proposal_chosen, "responder chose a transform we did not offer");
    return e_.DeleteIkeSa(sa, "bad proposal choice", false);
  }
  sa.suite = o->suite;
  sa.cipher.alg = sa.suite.cipher;
  sa.lifetime_s = o->life.seconds.value_or(e_.cfg().lifetime_s);
  sa.nat_t = NatTFromVids(All(*m, PayloadType::kVendorId), &sa.peer_dpd, &sa.peer_ms, &sa.peer_frag);
  auto dh = DiffieHellman::Create(sa.suite.group);
  if (!dh.ok()) return e_.DeleteIkeSa(sa, "DH failed", false);
  sa.dh = std::move(*dh);
  sa.gxi = sa.dh->public_value();
  sa.ni = RandomBytes(32);
  std::vector<RawPayload> out = {Payload(PayloadType::kKe, sa.gxi),
                                 Payload(PayloadType::kNonce, sa.ni)};
  if (sa.nat_t != NatT::kNone) {
    out.push_back(Payload(NatDType(sa.nat_t), NatDetectionHash(sa.suite.hash, sa.icookie,
                                                               sa.rcookie, sa.remote.ip,
                                                               sa.remote.port)));
    out.push_back(Payload(NatDType(sa.nat_t), NatDetectionHash(sa.suite.hash, sa.icookie,
                                                               sa.rcookie, sa.local.ip,
                                                               sa.local.port)));
  }
  if (sa.suite.auth == AuthMethod::kRsaSig && e_.opts().send_certreq && e_.certs()) {
    for (auto& p : CertReqPayloads(*e_.certs())) out.push_back(std::move(p));
  }
  sa.state = SaState::kMmI3Sent;
  sa.retransmits = 0;
  sa.last_request = BuildPlainMessage(MmHeader(sa), out);
  e_.Send(sa, sa.last_request);
  e_.ArmRetransmit(sa, std::nullopt);
}

void MainModeInitiator::OnMessage4(IkeSa& sa, ByteSpan raw) {
  auto m = ParsePlainMessage(raw);
  const RawPayload* ke = m.ok() ? m->Find(PayloadType::kKe) : nullptr;
  const RawPayload* nonce = m.ok() ? m->Find(PayloadType::kNonce) : nullptr;
  if (!ke || !nonce) {
    ++e_.counters().payload_malformed;
    return;
  }
  auto gxy = sa.dh->ComputeShared(ke->body);
  if (!gxy.ok()) {
    ++e_.counters().invalid_key_info;
    return e_.DeleteIkeSa(sa, "bad responder KE", false);
  }
  sa.gxr = ke->body;
  sa.nr = nonce->body;
  sa.gxy = std::move(*gxy);
  const bool sig = sa.suite.auth == AuthMethod::kRsaSig;
  Bytes skeyid = sig ? SkeyidSig(sa.suite.hash, sa.ni, sa.nr, sa.gxy)
                     : SkeyidPsk(sa.suite.hash, ToBytes(e_.cfg().psk), sa.ni, sa.nr);
  sa.keys = DerivePhase1Keys(sa.suite.hash, std::move(skeyid), sa.gxy, sa.icookie, sa.rcookie,
                             sa.suite.key_len());
  sa.cipher.key = sa.keys.enc_key;
  sa.iv = Phase1Iv(sa.suite.hash, sa.gxi, sa.gxr, BlockSize(sa.cipher.alg));
  sa.psk_source = sig ? "certificate" : "configured";
  sa.peer_certreq = m->Find(PayloadType::kCertReq) != nullptr;

  if (sa.nat_t != NatT::kNone) {
    std::vector<const RawPayload*> natd = All(*m, NatDType(sa.nat_t));
    if (natd.size() >= 2) {
      Bytes me = NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie, sa.local.ip, sa.local.port);
      Bytes them =
          NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie, sa.remote.ip, sa.remote.port);
      sa.local_behind_nat = natd[0]->body != me;
      sa.peer_behind_nat = true;
      for (size_t i = 1; i < natd.size(); ++i)
        if (natd[i]->body == them) sa.peer_behind_nat = false;
    }
    // RFC 3947 4: with a NAT in the path, float to port 4500 from message 5.
    if ((sa.local_behind_nat || sa.peer_behind_nat) && sa.remote.port != kNatTPort) {
      sa.local.port = kNatTPort;
      sa.remote.port = kNatTPort;
    }
  }
  IdPayload id = IdPayload::Ipv4(sa.local.ip, 17, kIkePort);
  if (sig) {  // RFC 4945 3.1: our certificate's subject, unless told otherwise
    id.type = IdType::kDerAsn1Dn;
    id.data = e_.certs()->own_subject();
  }
  id = e_.opts().local_id.value_or(id);
  Bytes id_b = EncodeId(id);
  Bytes hash_i = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxi, sa.gxr, sa.icookie,
                                sa.rcookie, sa.sai_b, id_b);
  std::vector<RawPayload> out = {Payload(PayloadType::kId, id_b)};
  if (sig) {
    auto auth = SigAuthPayloads(*e_.certs(), hash_i, sa.peer_certreq && e_.opts().send_cert);
    if (!auth.ok()) return e_.DeleteIkeSa(sa, std::string(auth.status().message()), false);
    for (auto& p : *auth) out.push_back(std::move(p));
  } else {
    out.push_back(Payload(PayloadType::kHash, hash_i));
  }
  // RFC 2407 4.6.3.3: INITIAL-CONTACT only when we hold no other SA with
  // this peer; a phase 1 rekey must not wipe the ESP SAs it keeps.
  if (e_.opts().initial_contact && !e_.HasOtherEstablishedSa(sa)) {
    NotifyPayload n;
    n.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
    n.spi = CookieSpi(sa);
    n.type = NotifyType::kInitialContact;
    out.push_back(Payload(PayloadType::kNotify, EncodeNotify(n)));
  }
  auto sealed = Seal(MmHeader(sa), PayloadType::kId, EncodeChain(out), sa.cipher, sa.iv);
  if (!sealed.ok()) return e_.DeleteIkeSa(sa, "encryption failed", false);
  sa.iv = sealed->next_iv;
  sa.state = SaState::kMmI5Sent;
  sa.retransmits = 0;
  sa.last_request = sealed->msg;
  e_.Send(sa, sa.last_request);
  e_.ArmRetransmit(sa, std::nullopt);
}

void MainModeInitiator::OnMessage6(IkeSa& sa, ByteSpan raw) {
  auto opened = Open(raw, sa.cipher, sa.iv);
  const RawPayload* id = opened.ok() ? opened->msg.Find(PayloadType::kId) : nullptr;
  const bool sig = sa.suite.auth == AuthMethod::kRsaSig;
  const RawPayload* hash =
      opened.ok() ? opened->msg.Find(sig ? PayloadType::kSig : PayloadType::kHash) : nullptr;
  if (!id || !hash) {
    ++e_.counters().auth_failed;
    VPN_LOG(ike, kWarn, "%s: message 6 did not decrypt (wrong PSK?)", sa.PeerName());
    return;
  }
  Bytes want = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxr, sa.gxi, sa.rcookie,
                              sa.icookie, sa.sai_b, id->body);
  if (sig) {
    auto idr = ParseId(id->body);
    SigCheck check;
    check.error = CertError::kIdMismatch;
    if (idr.ok())
      check = VerifySigAuth(*e_.certs(), opened->msg, *idr, want, e_.timers().Now(),
                            e_.opts().require_server_eku ? EkuPolicy::kServer : EkuPolicy::kNone);
    if (!check.ok()) {
      ++(e_.counters().*CounterFor(check.error));
      VPN_LOG(ike, kWarn, "%s: responder certificate refused: %s: %s", sa.PeerName(),
              CertErrorName(check.error), check.detail);
      return e_.DeleteIkeSa(sa, "responder authentication failed", false);
    }
    sa.psk_source = "certificate " + check.subject;
  } else if (!SecureEqual(want, hash->body)) {
    ++e_.counters().auth_failed;
    VPN_LOG(ike, kWarn, "%s: HASH_R did not verify", sa.PeerName());
    return e_.DeleteIkeSa(sa, "responder authentication failed", false);
  }
  auto idp = ParseId(id->body);
  if (idp.ok()) sa.peer_id = *idp;
  sa.iv = opened->next_iv;
  sa.last_p1_block = opened->next_iv;
  e_.NoteHeardFrom(sa);
  e_.OnEstablished(sa);
  if (e_.opts().auto_quick_mode) (void)e_.StartQuickMode(sa.id());
}

}  // namespace vpn::ike
