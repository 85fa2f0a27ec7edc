// X.509 for IKEv1 RSA signature authentication (RFC 2409 5.1, auth method
// 3) through OpenSSL 3, profiled after RFC 4945 and what Windows requires
// (seed 003): our CA bundle, our certificate chain and key, verification of
// a peer's chain (trust, validity, key usage, EKU), identity matching and
// the raw PKCS#1 v1.5 signature IKEv1 puts in the SIG payload.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bytes.h"
#include "payloads.h"

namespace vpn::ike {

// Why a peer's certificate was refused; each maps to one notify and one
// counter (sig_auth.cc).
enum class CertError : uint8_t {
  kNone,
  kUnavailable,   // no CERT payload (CERTIFICATE-UNAVAILABLE)
  kBadEncoding,   // CERT data does not parse (INVALID-CERT-ENCODING)
  kUnsupported,   // CERT encoding other than X.509 / PKCS #7 (CERT-TYPE-UNSUPPORTED)
  kUntrusted,     // does not chain to a configured CA (INVALID-CERT-AUTHORITY)
  kExpired,       // outside notBefore/notAfter, leaf or CA (INVALID-CERTIFICATE)
  kBadUsage,      // EKU / keyUsage not acceptable for this role (INVALID-CERTIFICATE)
  kInvalid,       // any other chain failure (INVALID-CERTIFICATE)
  kIdMismatch,    // the ID payload does not name the certificate (INVALID-ID-INFORMATION)
  kBadSignature,  // SIG does not verify (AUTHENTICATION-FAILED)
};
std::string_view CertErrorName(CertError e);

// Which extended key usage the leaf must allow.
enum class EkuPolicy : uint8_t {
  // A client's (initiator's) certificate, checked by the concentrator.
  // Seed 003: certificates for IKE need no purpose, so an absent EKU is
  // fine; when present it must include clientAuth, ipsecIKE, iKEIntermediate,
  // ipsecEndSystem, ipsecUser or anyExtendedKeyUsage.
  kClient,
  // The gateway's certificate as Windows checks it (seed 003): EKU present
  // with serverAuth or iKEIntermediate. Used by our initiator.
  kServer,
  kNone,
};

// Accepted EKU object identifiers (dotted), for docs and logs.
inline constexpr const char* kOidServerAuth = "1.3.6.1.5.5.7.3.1";
inline constexpr const char* kOidClientAuth = "1.3.6.1.5.5.7.3.2";
inline constexpr const char* kOidIpsecEndSystem = "1.3.6.1.5.5.7.3.5";
inline constexpr const char* kOidIpsecUser = "1.3.6.1.5.5.7.3.7";
inline constexpr const char* kOidIpsecIke = "1.3.6.1.5.5.7.3.17";      // RFC 4945 5.1.3.12
inline constexpr const char* kOidIkeIntermediate = "1.3.6.1.5.5.8.2.2";  // Microsoft
inline constexpr const char* kOidAnyEku = "2.5.29.37.0";

// A verified peer certificate (the leaf of the chain it sent).
class PeerCert {
 public:
  ~PeerCert();
  PeerCert(const PeerCert&) = delete;
  PeerCert& operator=(const PeerCert&) = delete;
  // RFC 4945 3.1: ID_DER_ASN1_DN equals the subject; ID_FQDN, ID_USER_FQDN
  // and ID_IPV4_ADDR equal a dNSName / rfc822Name / iPAddress subjectAltName.
  bool MatchesId(const IdPayload& id) const;
  // IKEv1 RSA signature: PKCS#1 v1.5 type 1 padding over the raw HASH_I /
  // HASH_R, without a DigestInfo (what strongSwan, racoon and Windows do).
  bool VerifySignature(ByteSpan hash, ByteSpan sig) const;
  std::string Subject() const;

 private:
  friend class CertStore;
  explicit PeerCert(void* x509) : x509_(x509) {}
  void* x509_;  // X509*
};

class CertStore {
 public:
  // Loads the CA bundle (one or more PEM certificates), our certificate
  // (PEM; further certificates in the same file are sent as the chain) and
  // our RSA private key (PEM, unencrypted). Errors name the file.
  static absl::StatusOr<std::unique_ptr<CertStore>> Load(const std::string& ca_file,
                                                         const std::string& cert_file,
                                                         const std::string& key_file);
  ~CertStore();
  CertStore(const CertStore&) = delete;
  CertStore& operator=(const CertStore&) = delete;

  // Our chain as DER, leaf first (CERT payloads, encoding 4).
  const std::vector<Bytes>& own_chain() const { return own_chain_der_; }
  // Our subject as DER (the ID_DER_ASN1_DN body we send).
  const Bytes& own_subject() const { return own_subject_der_; }
  // DER subject names of the configured CAs (CERTREQ bodies, RFC 2408 3.10).
  const std::vector<Bytes>& ca_names() const { return ca_names_der_; }
  // Our leaf allows what Windows asks of a gateway (serverAuth or
  // iKEIntermediate); logged at load when it does not.
  bool own_cert_has_server_eku() const { return own_server_eku_; }

  // Raw PKCS#1 v1.5 signature of `hash` with our key.
  absl::StatusOr<Bytes> Sign(ByteSpan hash) const;

  // Verifies the certificates a peer sent (DER, any order; the leaf is the
  // one that issued none of the others) against our CAs at `now`.
  CertError Verify(const std::vector<Bytes>& certs, absl::Time now, EkuPolicy policy,
                   std::unique_ptr<PeerCert>* leaf, std::string* detail) const;

 private:
  CertStore() = default;
  void* store_ = nullptr;  // X509_STORE*
  void* key_ = nullptr;    // EVP_PKEY*
  std::vector<Bytes> own_chain_der_;
  Bytes own_subject_der_;
  std::vector<Bytes> ca_names_der_;
  bool own_server_eku_ = false;
};

// The certificates inside one CERT payload: encoding 4 (one DER X.509) or
// 1 (PKCS #7 wrapped, as some Windows versions send the chain).
CertError CertsFromPayload(const CertPayload& c, std::vector<Bytes>* out);

// RFC 2253 text of a DER distinguished name ("CN=vpn,O=Example"), or "" if
// it does not parse. Used for ID_DER_ASN1_DN in logs and [[ike.peer]] ids.
std::string DnToString(ByteSpan der);

}  // namespace vpn::ike
