// RSA signature authentication in Main Mode (RFC 2409 5.1), shared by both
// roles:
//   3  HDR, KE, Ni [, CERTREQ]              -->
//                                           <--  4  HDR, KE, Nr [, CERTREQ]
//   5  HDR*, IDii, [CERT,] SIG_I            -->
//                                           <--  6  HDR*, IDir, [CERT,] SIG_R
// SKEYID = prf(Ni_b | Nr_b, g^xy); SIG_I/SIG_R sign HASH_I/HASH_R, which are
// computed exactly as for pre-shared keys.
#pragma once

#include <string>
#include <vector>

#include "certs.h"
#include "counters.h"
#include "payloads.h"

namespace vpn::ike {

// CERTREQ payloads naming each configured CA (RFC 2408 3.10: encoding 4,
// Certificate Authority = DER distinguished name).
std::vector<RawPayload> CertReqPayloads(const CertStore& certs);

// Our [CERT...] (whole chain, leaf first, when `send_cert`) and SIG over
// `hash`.
absl::StatusOr<std::vector<RawPayload>> SigAuthPayloads(const CertStore& certs, ByteSpan hash,
                                                        bool send_cert);

// Checks the peer's CERT payloads in `m` (chain, validity, EKU for
// `policy`), that `id` names the certificate and that SIG verifies over
// `hash`. On success `subject` is the certificate's subject.
struct SigCheck {
  CertError error = CertError::kNone;
  std::string detail;
  std::string subject;
  bool ok() const { return error == CertError::kNone; }
};
SigCheck VerifySigAuth(const CertStore& certs, const Message& m, const IdPayload& id,
                       ByteSpan hash, absl::Time now, EkuPolicy policy);

// The refusal for each error: the notify RFC 2408 3.14.1 names and the
// counter that goes up.
NotifyType NotifyFor(CertError e);
uint64_t Counters::*CounterFor(CertError e);

}  // namespace vpn::ike
