// Aggressive Mode with pre-shared keys (RFC 2409 5; NAT-D in messages 2
// and 3 per RFC 3947 3.2). Only with ike.allow_aggressive: the responder
// sends a hash keyed by the PSK before the initiator proves anything, which
// allows offline guessing of the key (hence off by default).
//   1  HDR, SA, KE, Ni, IDii, VID*             -->
//      <-- 2  HDR, SA, KE, Nr, IDir, HASH_R, VID*, NAT-D, NAT-D
//   3  HDR*, HASH_I, NAT-D, NAT-D             -->
#include "exchanges.h"
#include "vendor_ids.h"
#include "vpn/log.h"

namespace vpn::ike {
namespace {

Header AmHeader(const IkeSa& sa) {
  Header h;
  h.icookie = sa.icookie;
  h.rcookie = sa.rcookie;
  h.exchange = ExchangeType::kAggressive;
  return h;
}

// The ID is in the clear here, so the key is chosen directly: address,
// then identity, then the wildcard.
const config::IkePeer* PeerFor(const config::Ike& cfg, const Endpoint& remote,
                               const IdPayload& id) {
  for (const auto& p : cfg.peers)
    if (p.id == FormatIp(remote.ip)) return &p;
  for (const auto& p : cfg.peers)
    if (p.id == id.ToString()) return &p;
  return nullptr;
}

}  // namespace

void AggressiveModeResponder::OnFirstMessage(const Endpoint& local, const Endpoint& remote,
                                             ByteSpan raw, const Header& h) {
  auto refuse = [&](NotifyType n, uint64_t Counters::*c, const std::string& why) {
    e_.Refuse(nullptr, local, remote, h.icookie, 0, n, c, why);
  };
  auto m = ParsePlainMessage(raw);
  const RawPayload *sap = nullptr, *ke = nullptr, *ni = nullptr, *id = nullptr;
  if (m.ok()) {
    sap = m->Find(PayloadType::kSa);
    ke = m->Find(PayloadType::kKe);
    ni = m->Find(PayloadType::kNonce);
    id = m->Find(PayloadType::kId);
  }
  if (!sap || !ke || !ni || !id || ni->body.size() > 256 || (h.flags & flags::kEncryption))
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "Aggressive Mode 1 needs SA, KE, Ni and IDii");
  auto offered = ParseSa(sap->body);
  auto idp = ParseId(id->body);
  if (!offered.ok() || !idp.ok())
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "Aggressive Mode 1: bad SA or ID");
  // Admission before the DH work this message asks for.
  if (!e_.AdmitHalfOpen(remote, h.icookie, raw)) return;
  auto choice = ChooseIkeProposal(e_.ike_suites(), *offered, {AuthMethod::kPsk});
  if (!choice)
    return refuse(NotifyType::kNoProposalChosen, &Counters::no_proposal_chosen,
                  "no acceptable phase 1 proposal among [" + DescribeIkeOffer(*offered) + "]");
  const IkeSuite& suite = choice->offered.suite;
  if (ke->body.size() != DhPublicSize(suite.group))
    return refuse(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                  "KE does not match the chosen group");
  const config::Ike& cfg = e_.cfg();
  const config::IkePeer* peer = PeerFor(cfg, remote, *idp);
  const std::string* psk = peer ? &peer->psk : cfg.psk.empty() ? nullptr : &cfg.psk;
  if (!psk)
    return refuse(NotifyType::kAuthenticationFailed, &Counters::auth_failed,
                  "no pre-shared key for " + idp->ToString());
  auto dh = DiffieHellman::Create(suite.group);
  auto gxy = dh.ok() ? (*dh)->ComputeShared(ke->body) : absl::StatusOr<Bytes>(dh.status());
  if (!gxy.ok())
    return refuse(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                  "bad DH public value");

  IkeSa& sa = e_.CreateSa(false, local, remote, h.icookie);
  sa.suite = suite;
  sa.cipher.alg = suite.cipher;
  sa.sai_b = sap->body;
  sa.proposal_number = choice->proposal->number;
  sa.life_decision = DecideLifetime(choice->offered.life, cfg.lifetime_s, 0, cfg.min_lifetime_s);
  sa.lifetime_s = sa.life_decision.seconds;
  sa.send_responder_lifetime = sa.life_decision.notify;
  sa.nat_t = NatTFromVids(All(*m, PayloadType::kVendorId), &sa.peer_dpd, &sa.peer_ms, &sa.peer_frag);
  sa.state = SaState::kAmR2Sent;
  sa.dh = std::move(*dh);
  sa.gxi = ke->body;
  sa.gxr = sa.dh->public_value();
  sa.gxy = std::move(*gxy);
  sa.ni = ni->body;
  sa.nr = RandomBytes(32);
  sa.peer_id = *idp;
  sa.psk_source = peer ? "peer " + peer->id : "wildcard";
  sa.keys = DerivePhase1Keys(suite.hash, SkeyidPsk(suite.hash, ToBytes(*psk), sa.ni, sa.nr),
                             sa.gxy, sa.icookie, sa.rcookie, suite.key_len());
  sa.cipher.key = sa.keys.enc_key;
  sa.iv = Phase1Iv(suite.hash, sa.gxi, sa.gxr, BlockSize(sa.cipher.alg));

  Bytes idr_b = EncodeId(IdPayload::Ipv4(sa.local.ip, 17, kIkePort));
  Bytes hash_r = Phase1AuthHash(suite.hash, sa.keys.skeyid, sa.gxr, sa.gxi, sa.rcookie,
                                sa.icookie, sa.sai_b, idr_b);
  std::vector<RawPayload> out = {Payload(PayloadType::kSa, ReplySa(*choice)),
                                 Payload(PayloadType::kKe, sa.gxr),
                                 Payload(PayloadType::kNonce, sa.nr),
                                 Payload(PayloadType::kId, idr_b),
                                 Payload(PayloadType::kHash, hash_r)};
  AppendResponderVids(*m, sa.nat_t, sa.peer_frag && e_.cfg().fragment_size > 0, out);
  // The initiator's NAT-D only comes in message 3; ours go now.
  if (sa.nat_t != NatT::kNone) {
    out.push_back(Payload(NatDType(sa.nat_t), NatDetectionHash(suite.hash, sa.icookie, sa.rcookie,
                                                               sa.remote.ip, sa.remote.port)));
    out.push_back(Payload(NatDType(sa.nat_t), NatDetectionHash(suite.hash, sa.icookie, sa.rcookie,
                                                               sa.local.ip, sa.local.port)));
  }
  VPN_LOG(ike, kEvent, "%s: Aggressive Mode 1: chose %s for %s", sa.PeerName(),
          suite.ToString(), idp->ToString());
  e_.Answer(sa, raw, BuildPlainMessage(AmHeader(sa), out));
}

void AggressiveModeResponder::OnMessage3(IkeSa& sa, const Endpoint& local,
                                         const Endpoint& remote, ByteSpan raw) {
  if (sa.state != SaState::kAmR2Sent) {
    ++e_.counters().rx_unexpected;
    return;
  }
  auto h = ParseHeader(raw);
  bool encrypted = h.ok() && (h->flags & flags::kEncryption);
  absl::StatusOr<Message> m = absl::InvalidArgumentError("");
  Bytes next_iv = sa.iv;
  if (encrypted) {
    auto o = Open(raw, sa.cipher, sa.iv);
    if (o.ok()) {
      next_iv = o->next_iv;
      m = std::move(o->msg);
    }
  } else {
    m = ParsePlainMessage(raw);  // some old clients send message 3 in the clear
  }
  const RawPayload* hash = m.ok() ? m->Find(PayloadType::kHash) : nullptr;
  Bytes want = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxi, sa.gxr, sa.icookie,
                              sa.rcookie, sa.sai_b, EncodeId(*sa.peer_id));
  if (!hash || !SecureEqual(want, hash->body)) {
    // Left to the half-open timeout, like Main Mode message 5.
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie,
              NotifyType::kAuthenticationFailed, &Counters::auth_failed,
              "Aggressive Mode HASH_I did not verify");
    return;
  }
  if (sa.nat_t != NatT::kNone) {
    if (remote != sa.remote || !(local == sa.local)) {
      sa.remote = remote;
      sa.local = local;
    }
    (void)NatDetection(sa, *m, true);
  }
  sa.iv = next_iv;
  // The last phase 1 CBC block is the initiator's message 3 here.
  sa.last_p1_block = next_iv;
  e_.NoteHeardFrom(sa);
  e_.OnEstablished(sa);
}

absl::Status AggressiveModeInitiator::Start(IkeSa& sa) {
  const auto& suites = e_.ike_suites();
  if (suites.empty()) return absl::FailedPreconditionError("no IKE proposals");
  // One KE: every transform offered must use the first suite's group.
  DhGroup group = suites[0].group;
  SaPayload offer;
  Proposal p;
  p.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
  Lifetime life;
  life.seconds = e_.cfg().lifetime_s;
  for (size_t i = 0; i < suites.size() && i < 255; ++i)
    if (suites[i].group == group)
      p.transforms.push_back(IkeSuiteToTransform(suites[i], static_cast<uint8_t>(i + 1), life));
  offer.proposals = {p};
  sa.sai_b = EncodeSa(offer);
  auto dh = DiffieHellman::Create(group);
  if (!dh.ok()) return dh.status();
  sa.dh = std::move(*dh);
  sa.gxi = sa.dh->public_value();
  sa.ni = RandomBytes(32);
  sa.state = SaState::kAmI1Sent;
  IdPayload id = e_.opts().local_id.value_or(IdPayload::Ipv4(sa.local.ip, 17, kIkePort));
  std::vector<RawPayload> out = {
      Payload(PayloadType::kSa, sa.sai_b), Payload(PayloadType::kKe, sa.gxi),
      Payload(PayloadType::kNonce, sa.ni), Payload(PayloadType::kId, EncodeId(id)),
      Payload(PayloadType::kVendorId, VidBytes(Vid::kRfc3947)),
      Payload(PayloadType::kVendorId, VidBytes(Vid::kDpd))};
  sa.last_request = BuildPlainMessage(AmHeader(sa), out);
  e_.Send(sa, sa.last_request);
  e_.ArmRetransmit(sa, std::nullopt);
  return absl::OkStatus();
}

void AggressiveModeInitiator::OnMessage2(IkeSa& sa, ByteSpan raw) {
  if (sa.state != SaState::kAmI1Sent) {
    ++e_.counters().rx_unexpected;
    return;
  }
  auto h = ParseHeader(raw);
  if (h.ok() && sa.rcookie == 0) sa.rcookie = h->rcookie;
  auto m = ParsePlainMessage(raw);
  const RawPayload *sap = nullptr, *ke = nullptr, *nr = nullptr, *id = nullptr, *hash = nullptr;
  if (m.ok()) {
    sap = m->Find(PayloadType::kSa);
    ke = m->Find(PayloadType::kKe);
    nr = m->Find(PayloadType::kNonce);
    id = m->Find(PayloadType::kId);
    hash = m->Find(PayloadType::kHash);
  }
  auto chosen = sap ? ParseSa(sap->body) : absl::StatusOr<SaPayload>(absl::InvalidArgumentError(""));
  if (!ke || !nr || !id || !hash || !chosen.ok() || chosen->proposals.size() != 1 ||
      chosen->proposals[0].transforms.size() != 1) {
    ++e_.counters().payload_malformed;
    return;
  }
  auto o = TransformToIkeSuite(chosen->proposals[0].transforms[0]);
  bool offered = false;
  if (o.ok())
    for (const auto& s : e_.ike_suites()) offered |= s == o->suite;
  auto gxy = sa.dh->ComputeShared(ke->body);
  if (!offered || o->suite.group != sa.dh->group() || !gxy.ok()) {
    ++e_.counters().no_proposal_chosen;
    return e_.DeleteIkeSa(sa, "bad Aggressive Mode reply", false);
  }
  sa.suite = o->suite;
  sa.cipher.alg = sa.suite.cipher;
  sa.lifetime_s = o->life.seconds.value_or(e_.cfg().lifetime_s);
  sa.nat_t = NatTFromVids(All(*m, PayloadType::kVendorId), &sa.peer_dpd, &sa.peer_ms, &sa.peer_frag);
  sa.gxr = ke->body;
  sa.nr = nr->body;
  sa.gxy = std::move(*gxy);
  sa.keys = DerivePhase1Keys(sa.suite.hash, SkeyidPsk(sa.suite.hash, ToBytes(e_.cfg().psk), sa.ni, sa.nr),
                             sa.gxy, sa.icookie, sa.rcookie, sa.suite.key_len());
  sa.cipher.key = sa.keys.enc_key;
  sa.iv = Phase1Iv(sa.suite.hash, sa.gxi, sa.gxr, BlockSize(sa.cipher.alg));
  Bytes want = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxr, sa.gxi, sa.rcookie,
                              sa.icookie, sa.sai_b, id->body);
  if (!SecureEqual(want, hash->body)) {
    ++e_.counters().auth_failed;
    return e_.DeleteIkeSa(sa, "responder authentication failed", false);
  }
  auto idp = ParseId(id->body);
  if (idp.ok()) sa.peer_id = *idp;
  std::vector<RawPayload> natd_out;
  if (sa.nat_t != NatT::kNone) {
    // The responder's NAT-D: first = us as it saw us, second = itself.
    natd_out = NatDetection(sa, *m, false);
    if ((sa.local_behind_nat || sa.peer_behind_nat) && sa.remote.port != kNatTPort) {
      sa.local.port = kNatTPort;
      sa.remote.port = kNatTPort;
    }
    // Our NAT-D describe the addresses this message is sent from/to.
    natd_out = {Payload(NatDType(sa.nat_t), NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie,
                                                             sa.remote.ip, sa.remote.port)),
                Payload(NatDType(sa.nat_t), NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie,
                                                             sa.local.ip, sa.local.port))};
  }
  // HASH_I covers IDii exactly as sent in message 1 (before any float).
  Bytes idi_b;
  {
    auto m1 = ParsePlainMessage(sa.last_request);
    if (m1.ok() && m1->Find(PayloadType::kId)) idi_b = m1->Find(PayloadType::kId)->body;
  }
  Bytes hash_i = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxi, sa.gxr, sa.icookie,
                                sa.rcookie, sa.sai_b, idi_b);
  std::vector<RawPayload> out = {Payload(PayloadType::kHash, hash_i)};
  for (auto& p : natd_out) out.push_back(std::move(p));
  auto sealed = Seal(AmHeader(sa), PayloadType::kHash, EncodeChain(out), sa.cipher, sa.iv);
  if (!sealed.ok()) return e_.DeleteIkeSa(sa, "encryption failed", false);
  sa.iv = sealed->next_iv;
  sa.last_p1_block = sealed->next_iv;
  e_.Answer(sa, raw, sealed->msg);  // a repeated message 2 gets message 3 again
  e_.NoteHeardFrom(sa);
  e_.OnEstablished(sa);
  if (e_.opts().auto_quick_mode) (void)e_.StartQuickMode(sa.id());
}

}  // namespace vpn::ike
