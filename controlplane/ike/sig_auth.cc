#include "sig_auth.h"

namespace vpn::ike {

std::vector<RawPayload> CertReqPayloads(const CertStore& certs) {
  std::vector<RawPayload> out;
  for (const Bytes& name : certs.ca_names()) {
    CertPayload req;
    req.encoding = 4;  // X.509 Certificate - Signature
    req.data = name;
    out.push_back(Payload(PayloadType::kCertReq, EncodeCert(req)));
  }
  return out;
}

absl::StatusOr<std::vector<RawPayload>> SigAuthPayloads(const CertStore& certs, ByteSpan hash,
                                                        bool send_cert) {
  std::vector<RawPayload> out;
  if (send_cert) {
    for (const Bytes& der : certs.own_chain()) {
      CertPayload c;
      c.encoding = 4;
      c.data = der;
      out.push_back(Payload(PayloadType::kCert, EncodeCert(c)));
    }
  }
  auto sig = certs.Sign(hash);
  if (!sig.ok()) return sig.status();
  out.push_back(Payload(PayloadType::kSig, std::move(*sig)));
  return out;
}

SigCheck VerifySigAuth(const CertStore& certs, const Message& m, const IdPayload& id,
                       ByteSpan hash, absl::Time now, EkuPolicy policy) {
  SigCheck r;
  const RawPayload* sig = m.Find(PayloadType::kSig);
  if (!sig) {
    r.error = CertError::kBadSignature;
    r.detail = "no SIG payload";
    return r;
  }
  std::vector<Bytes> ders;
  for (const RawPayload& p : m.payloads) {
    if (p.type != PayloadType::kCert) continue;
    auto c = ParseCert(p.body);
    if (!c.ok()) {
      r.error = CertError::kBadEncoding;
      r.detail = "CERT payload too short";
      return r;
    }
    if (CertError e = CertsFromPayload(*c, &ders); e != CertError::kNone) {
      r.error = e;
      r.detail = "CERT encoding " + std::to_string(c->encoding);
      return r;
    }
  }
  if (ders.size() > 8) {  // a chain longer than any real one: refuse the work
    r.error = CertError::kInvalid;
    r.detail = std::to_string(ders.size()) + " certificates";
    return r;
  }
  std::unique_ptr<PeerCert> leaf;
  r.error = certs.Verify(ders, now, policy, &leaf, &r.detail);
  if (!r.ok()) return r;
  r.subject = leaf->Subject();
  if (!leaf->MatchesId(id)) {
    r.error = CertError::kIdMismatch;
    r.detail = "ID " + id.ToString() + " vs certificate " + r.subject;
    return r;
  }
  if (!leaf->VerifySignature(hash, sig->body)) {
    r.error = CertError::kBadSignature;
    r.detail = "SIG does not verify with the key of " + r.subject;
  }
  return r;
}

NotifyType NotifyFor(CertError e) {
  switch (e) {
    case CertError::kUnavailable: return NotifyType::kCertificateUnavailable;
    case CertError::kBadEncoding: return NotifyType::kInvalidCertEncoding;
    case CertError::kUnsupported: return NotifyType::kCertTypeUnsupported;
    case CertError::kUntrusted: return NotifyType::kInvalidCertAuthority;
    case CertError::kExpired:
    case CertError::kBadUsage:
    case CertError::kInvalid: return NotifyType::kInvalidCertificate;
    case CertError::kIdMismatch: return NotifyType::kInvalidIdInformation;
    case CertError::kBadSignature:
    case CertError::kNone: return NotifyType::kAuthenticationFailed;
  }
  return NotifyType::kAuthenticationFailed;
}

uint64_t Counters::*CounterFor(CertError e) {
  switch (e) {
    case CertError::kUnavailable: return &Counters::cert_unavailable;
    case CertError::kBadEncoding:
    case CertError::kUnsupported:
    case CertError::kInvalid: return &Counters::cert_invalid;
    case CertError::kUntrusted: return &Counters::cert_untrusted;
    case CertError::kExpired: return &Counters::cert_expired;
    case CertError::kBadUsage: return &Counters::cert_bad_usage;
    case CertError::kIdMismatch: return &Counters::cert_id_mismatch;
    case CertError::kBadSignature:
    case CertError::kNone: return &Counters::auth_failed;
  }
  return &Counters::auth_failed;
}

}  // namespace vpn::ike
