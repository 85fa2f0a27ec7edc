// Main Mode responder (RFC 2409 5, pre-shared key; NAT-T RFC 3947 3-4):
//   1  HDR, SA, VID*                  -->
//                                     <--  2  HDR, SA, VID*
//   3  HDR, KE, Ni, NAT-D, NAT-D      -->
//                                     <--  4  HDR, KE, Nr, NAT-D, NAT-D
//   5  HDR*, IDii, HASH_I [, N(IC)]   -->     (port 4500 if a NAT was found)
//                                     <--  6  HDR*, IDir, HASH_R
#include <arpa/inet.h>

#include "exchanges.h"
#include "sig_auth.h"
#include "vendor_ids.h"
#include "vpn/log.h"

namespace vpn::ike {
namespace {

struct PskCandidate {
  const std::string* key;
  std::string source;
  std::optional<std::string> required_id;  // the ID payload must name this
};

// Main Mode hides the ID until message 5, which is encrypted with a key
// derived from the PSK. So: keys for this source address first, then keys
// for identities (each confirmed by the decrypted ID), then the wildcard.
std::vector<PskCandidate> PskCandidates(const config::Ike& cfg, const Endpoint& remote) {
  std::vector<PskCandidate> by_ip, by_id;
  std::string ip = FormatIp(remote.ip);
  for (const auto& p : cfg.peers) {
    if (p.auth != config::IkeAuth::kPsk) continue;
    if (p.id == ip) by_ip.push_back({&p.psk, "peer " + p.id, std::nullopt});
    else by_id.push_back({&p.psk, "peer " + p.id, p.id});
  }
  for (auto& c : by_id) by_ip.push_back(std::move(c));
  if (!cfg.psk.empty()) by_ip.push_back({&cfg.psk, "wildcard", std::nullopt});
  return by_ip;
}

}  // namespace

void MainModeResponder::OnFirstMessage(const Endpoint& local, const Endpoint& remote,
                                       ByteSpan raw, const Header& h) {
  auto refuse = [&](NotifyType n, uint64_t Counters::*c, const std::string& why) {
    e_.Refuse(nullptr, local, remote, h.icookie, 0, n, c, why);
  };
  if (h.flags & flags::kEncryption || h.message_id != 0)
    return refuse(NotifyType::kInvalidFlags, &Counters::payload_malformed,
                  "encrypted or non-zero M-ID Main Mode message 1");
  auto m = ParsePlainMessage(raw);
  if (!m.ok())
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "message 1: " + std::string(m.status().message()));
  if (m->Count(PayloadType::kSa) != 1)
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "message 1 needs exactly one SA payload");
  auto offered = ParseSa(m->Find(PayloadType::kSa)->body);
  if (!offered.ok())
    return refuse(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                  "SA payload: " + std::string(offered.status().message()));
  // Admission before any state or DH work (flood protection).
  if (!e_.AdmitHalfOpen(remote, h.icookie, raw)) return;

  auto choice = ChooseIkeProposal(e_.ike_suites(), *offered, e_.AllowedAuth(remote));
  if (!choice)
    return refuse(NotifyType::kNoProposalChosen, &Counters::no_proposal_chosen,
                  "no acceptable phase 1 proposal among [" + DescribeIkeOffer(*offered) + "]");
  const OfferedIke& chosen = choice->offered;

  IkeSa& sa = e_.CreateSa(false, local, remote, h.icookie);
  sa.suite = chosen.suite;
  sa.sai_b = m->Find(PayloadType::kSa)->body;
  sa.proposal_number = choice->proposal->number;
  const config::Ike& cfg = e_.cfg();
  sa.life_decision = DecideLifetime(chosen.life, cfg.lifetime_s, 0, cfg.min_lifetime_s);
  sa.lifetime_s = sa.life_decision.seconds;
  sa.send_responder_lifetime = sa.life_decision.notify;
  sa.nat_t = NatTFromVids(All(*m, PayloadType::kVendorId), &sa.peer_dpd, &sa.peer_ms, &sa.peer_frag);
  sa.cipher.alg = sa.suite.cipher;

  std::vector<RawPayload> out = {Payload(PayloadType::kSa, ReplySa(*choice))};
  AppendResponderVids(*m, sa.nat_t, sa.peer_frag && cfg.fragment_size > 0, out);
  Header rh;
  rh.icookie = sa.icookie;
  rh.rcookie = sa.rcookie;
  rh.exchange = ExchangeType::kIdentityProtection;
  VPN_LOG(ike, kEvent, "%s: Main Mode 1: chose %s (offered %s), lifetime %ds", sa.PeerName(),
          sa.suite.ToString(), DescribeIkeOffer(*offered), sa.lifetime_s);
  e_.Answer(sa, raw, BuildPlainMessage(rh, out));
}

void MainModeResponder::OnMessage(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                  ByteSpan raw, const Header&) {
  if (sa.state == SaState::kMmR2Sent) return OnMessage3(sa, raw);
  // In MM_R4 only an encrypted message 5 is valid; a late or corrupted
  // copy of message 3 must not disturb the exchange.
  if (sa.state == SaState::kMmR4Sent && (raw.size() > 19 && (raw[19] & flags::kEncryption)))
    return OnMessage5(sa, local, remote, raw);
  ++e_.counters().rx_unexpected;
}

void MainModeResponder::OnMessage3(IkeSa& sa, ByteSpan raw) {
  auto m = ParsePlainMessage(raw);
  auto fail = [&](NotifyType n, uint64_t Counters::*c, const std::string& why) {
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, n, c, why);
    e_.DeleteIkeSa(sa, why, false);
  };
  if (!m.ok() || (m->hdr.flags & flags::kEncryption))
    return fail(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                "message 3 malformed");
  const RawPayload* ke = m->Find(PayloadType::kKe);
  const RawPayload* nonce = m->Find(PayloadType::kNonce);
  if (!ke || !nonce || nonce->body.size() > 256)
    return fail(NotifyType::kPayloadMalformed, &Counters::payload_malformed,
                "message 3 needs KE and an 8-256 byte nonce");
  if (ke->body.size() != DhPublicSize(sa.suite.group))
    return fail(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                "KE length does not match " + std::string(DhGroupName(sa.suite.group)));
  auto dh = DiffieHellman::Create(sa.suite.group);
  if (!dh.ok()) return fail(NotifyType::kNoProposalChosen, &Counters::no_proposal_chosen, "DH");
  auto gxy = (*dh)->ComputeShared(ke->body);
  if (!gxy.ok())
    return fail(NotifyType::kInvalidKeyInformation, &Counters::invalid_key_info,
                "bad DH public value");
  sa.dh = std::move(*dh);
  sa.gxi = ke->body;
  sa.gxr = sa.dh->public_value();
  sa.gxy = std::move(*gxy);
  sa.ni = nonce->body;
  sa.nr = RandomBytes(32);
  sa.iv = Phase1Iv(sa.suite.hash, sa.gxi, sa.gxr, BlockSize(sa.cipher.alg));

  std::vector<RawPayload> out = {Payload(PayloadType::kKe, sa.gxr),
                                 Payload(PayloadType::kNonce, sa.nr)};
  for (auto& p : NatDetection(sa, *m, true)) out.push_back(std::move(p));
  if (sa.suite.auth == AuthMethod::kRsaSig && e_.certs()) {
    // RFC 2409 5.1: ask for the initiator's certificate, naming our CAs.
    sa.peer_certreq = m->Find(PayloadType::kCertReq) != nullptr;
    for (auto& p : CertReqPayloads(*e_.certs())) out.push_back(std::move(p));
  }
  Header rh;
  rh.icookie = sa.icookie;
  rh.rcookie = sa.rcookie;
  rh.exchange = ExchangeType::kIdentityProtection;
  sa.state = SaState::kMmR4Sent;
  VPN_LOG(ike, kEvent, "%s: Main Mode 3: %s%s", sa.PeerName(), DhGroupName(sa.suite.group),
          sa.peer_behind_nat ? ", peer behind NAT" : "");
  e_.Answer(sa, raw, BuildPlainMessage(rh, out));
}

void MainModeResponder::OnMessage5(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                   ByteSpan raw) {
  auto h = ParseHeader(raw);
  if (!h.ok() || !(h->flags & flags::kEncryption)) {
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, NotifyType::kPayloadMalformed,
              &Counters::payload_malformed, "message 5 not encrypted");
    return;
  }
  if (sa.suite.auth == AuthMethod::kRsaSig) return OnMessage5Sig(sa, local, remote, raw);
  bool any_decrypted = false;
  for (const PskCandidate& cand : PskCandidates(e_.cfg(), remote)) {
    Bytes skeyid = SkeyidPsk(sa.suite.hash, ToBytes(*cand.key), sa.ni, sa.nr);
    Phase1Keys keys = DerivePhase1Keys(sa.suite.hash, std::move(skeyid), sa.gxy, sa.icookie,
                                       sa.rcookie, sa.suite.key_len());
    CipherState cs{sa.suite.cipher, keys.enc_key};
    auto opened = Open(raw, cs, sa.iv);
    if (!opened.ok()) continue;
    const RawPayload* id = opened->msg.Find(PayloadType::kId);
    const RawPayload* hash = opened->msg.Find(PayloadType::kHash);
    if (!id || !hash) continue;
    any_decrypted = true;
    auto idp = ParseId(id->body);
    if (!idp.ok()) continue;
    if (cand.required_id && idp->ToString() != *cand.required_id) continue;
    Bytes want = Phase1AuthHash(sa.suite.hash, keys.skeyid, sa.gxi, sa.gxr, sa.icookie,
                                sa.rcookie, sa.sai_b, id->body);
    if (!SecureEqual(want, hash->body)) continue;

    if (!e_.AuthAllowedForId(*idp, AuthMethod::kPsk)) {
      e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie,
                NotifyType::kAuthenticationFailed, &Counters::auth_method_refused,
                "identity " + idp->ToString() + " must authenticate with a certificate");
      return;
    }
    sa.keys = std::move(keys);
    sa.cipher = cs;
    sa.peer_id = *idp;
    sa.psk_source = cand.source;
    Complete(sa, local, remote, opened->msg, raw, opened->next_iv);
    return;
  }
  e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie,
            any_decrypted ? NotifyType::kAuthenticationFailed : NotifyType::kPayloadMalformed,
            &Counters::auth_failed,
            any_decrypted ? "HASH_I did not verify with any configured key"
                          : "message 5 did not decrypt with any configured key (wrong PSK?)");
  // The initiator retransmits message 5 (same bytes) before giving up: say
  // why once per attempt, not once per retransmission.
  e_.RememberRefused(sa, raw);
  // The SA stays until the half-open timeout: a corrupted copy of message 5
  // must not let a forger end a legitimate exchange.
}

// RFC 2409 5.1: SKEYID = prf(Ni_b | Nr_b, g^xy) needs no secret, so the
// decryption only proves the DH exchange; the certificate chain, the ID and
// SIG_I over HASH_I authenticate the initiator.
void MainModeResponder::OnMessage5Sig(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                      ByteSpan raw) {
  Bytes skeyid = SkeyidSig(sa.suite.hash, sa.ni, sa.nr, sa.gxy);
  Phase1Keys keys = DerivePhase1Keys(sa.suite.hash, std::move(skeyid), sa.gxy, sa.icookie,
                                     sa.rcookie, sa.suite.key_len());
  CipherState cs{sa.suite.cipher, keys.enc_key};
  auto opened = Open(raw, cs, sa.iv);
  const RawPayload* id = opened.ok() ? opened->msg.Find(PayloadType::kId) : nullptr;
  auto idp = id ? ParseId(id->body) : absl::StatusOr<IdPayload>(absl::InvalidArgumentError(""));
  if (!idp.ok()) {
    // Not from the peer that did the DH (or corrupted): keep the SA for the
    // half-open timeout, as with a PSK.
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, NotifyType::kPayloadMalformed,
              &Counters::payload_malformed, "message 5 did not decrypt or has no valid ID");
    return;
  }
  auto refuse = [&](NotifyType n, uint64_t Counters::*c, const std::string& why) {
    e_.Refuse(&sa, sa.local, sa.remote, sa.icookie, sa.rcookie, n, c, why);
  };
  if (!e_.AuthAllowedForId(*idp, AuthMethod::kRsaSig))
    return refuse(NotifyType::kAuthenticationFailed, &Counters::auth_method_refused,
                  "identity " + idp->ToString() + " must authenticate with its pre-shared key");
  Bytes hash_i = Phase1AuthHash(sa.suite.hash, keys.skeyid, sa.gxi, sa.gxr, sa.icookie,
                                sa.rcookie, sa.sai_b, id->body);
  SigCheck check = VerifySigAuth(*e_.certs(), opened->msg, *idp, hash_i, e_.timers().Now(),
                                 EkuPolicy::kClient);
  if (!check.ok())
    return refuse(NotifyFor(check.error), CounterFor(check.error),
                  std::string(CertErrorName(check.error)) + ": " + check.detail);
  sa.peer_certreq |= opened->msg.Find(PayloadType::kCertReq) != nullptr;
  sa.keys = std::move(keys);
  sa.cipher = cs;
  sa.peer_id = *idp;
  sa.psk_source = "certificate " + check.subject;
  Complete(sa, local, remote, opened->msg, raw, opened->next_iv);
}

void MainModeResponder::Complete(IkeSa& sa, const Endpoint& local, const Endpoint& remote,
                                 const Message& m5, ByteSpan raw, Bytes next_iv) {
  // Authenticated. The initiator may have floated to port 4500.
  if (sa.nat_t != NatT::kNone && (remote != sa.remote || !(local == sa.local))) {
    VPN_LOG(ike, kEvent, "%s: peer floated to %s", sa.PeerName(), remote.ToString());
    sa.remote = remote;
    sa.local = local;
  }
  sa.iv = std::move(next_iv);
  for (const RawPayload* n : All(m5, PayloadType::kNotify)) {
    auto np = ParseNotify(n->body);
    if (np.ok() && np->type == NotifyType::kInitialContact) sa.peer_initial_contact = true;
  }
  const bool sig = sa.suite.auth == AuthMethod::kRsaSig;
  IdPayload idr = IdPayload::Ipv4(sa.local.ip, 17, kIkePort);
  if (sig) {
    idr.type = IdType::kDerAsn1Dn;
    idr.data = e_.certs()->own_subject();
  }
  Bytes idr_b = EncodeId(idr);
  Bytes hash_r = Phase1AuthHash(sa.suite.hash, sa.keys.skeyid, sa.gxr, sa.gxi, sa.rcookie,
                                sa.icookie, sa.sai_b, idr_b);
  std::vector<RawPayload> out = {Payload(PayloadType::kId, idr_b)};
  if (sig) {
    auto auth = SigAuthPayloads(*e_.certs(), hash_r, sa.peer_certreq);
    if (!auth.ok()) return e_.DeleteIkeSa(sa, std::string(auth.status().message()), false);
    for (auto& p : *auth) out.push_back(std::move(p));
  } else {
    out.push_back(Payload(PayloadType::kHash, hash_r));
  }
  Header rh;
  rh.icookie = sa.icookie;
  rh.rcookie = sa.rcookie;
  rh.exchange = ExchangeType::kIdentityProtection;
  auto sealed = Seal(rh, PayloadType::kId, EncodeChain(out), sa.cipher, sa.iv);
  if (!sealed.ok()) return e_.DeleteIkeSa(sa, "encryption failed", false);
  sa.iv = sealed->next_iv;
  sa.last_p1_block = sealed->next_iv;
  e_.Answer(sa, raw, sealed->msg);
  e_.OnEstablished(sa);
  if (sa.send_responder_lifetime) {
    NotifyPayload n;
    n.protocol = static_cast<uint8_t>(ProtocolId::kIsakmp);
    n.spi = CookieSpi(sa);
    n.type = NotifyType::kResponderLifetime;
    n.data = EncodeLifetimeAttributes(sa.life_decision, true);
    ++e_.counters().notifies_sent;
    (void)e_.SendInformational(sa, {Payload(PayloadType::kNotify, EncodeNotify(n))});
  }
}

}  // namespace vpn::ike
