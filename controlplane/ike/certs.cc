#include "certs.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <strings.h>

#include <algorithm>
#include <cstring>

#include "vpn/log.h"

namespace vpn::ike {
namespace {

X509* AsX509(void* p) { return static_cast<X509*>(p); }

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

X509Ptr FromDer(ByteSpan der) {
  const unsigned char* p = der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (x && p != der.data() + der.size()) {  // trailing garbage
    X509_free(x);
    return nullptr;
  }
  return X509Ptr(x);
}

Bytes ToDer(X509* x) {
  unsigned char* buf = nullptr;
  int n = i2d_X509(x, &buf);
  if (n <= 0) return {};
  Bytes out(buf, buf + n);
  OPENSSL_free(buf);
  return out;
}

Bytes NameToDer(const X509_NAME* n) {
  unsigned char* buf = nullptr;
  int len = i2d_X509_NAME(n, &buf);
  if (len <= 0) return {};
  Bytes out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

std::vector<X509Ptr> ReadPemCerts(const std::string& file, std::string* err) {
  std::vector<X509Ptr> out;
  BIO* bio = BIO_new_file(file.c_str(), "r");
  if (!bio) {
    *err = "cannot open " + file;
    ERR_clear_error();
    return out;
  }
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  BIO_free(bio);
  if (out.empty()) *err = file + ": no PEM certificate";
  return out;
}

// The EKU OIDs of a certificate (dotted); `present` tells whether it has the
// extension at all (RFC 5280 4.2.1.12: absent means any purpose).
std::vector<std::string> EkuOids(X509* x, bool* present) {
  std::vector<std::string> out;
  int crit = 0;
  auto* eku = static_cast<EXTENDED_KEY_USAGE*>(X509_get_ext_d2i(x, NID_ext_key_usage, &crit, nullptr));
  *present = eku != nullptr || crit != -1;
  if (!eku) return out;
  for (int i = 0; i < sk_ASN1_OBJECT_num(eku); ++i) {
    char buf[80];
    if (OBJ_obj2txt(buf, sizeof buf, sk_ASN1_OBJECT_value(eku, i), 1) > 0) out.emplace_back(buf);
  }
  EXTENDED_KEY_USAGE_free(eku);
  return out;
}

bool HasAny(const std::vector<std::string>& have, std::initializer_list<const char*> want) {
  for (const char* w : want)
    if (std::find(have.begin(), have.end(), w) != have.end()) return true;
  return false;
}

CertError CheckUsage(X509* leaf, EkuPolicy policy, std::string* detail) {
  // RFC 4945 5.1.3.2: a keyUsage extension, when present, must allow
  // digitalSignature or nonRepudiation for IKE signatures.
  uint32_t ku = X509_get_key_usage(leaf);
  if (ku != UINT32_MAX && !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION))) {
    *detail = "keyUsage allows neither digitalSignature nor nonRepudiation";
    return CertError::kBadUsage;
  }
  bool present = false;
  std::vector<std::string> eku = EkuOids(leaf, &present);
  switch (policy) {
    case EkuPolicy::kNone: return CertError::kNone;
    case EkuPolicy::kClient:
      if (!present || HasAny(eku, {kOidClientAuth, kOidIpsecIke, kOidIkeIntermediate,
                                   kOidIpsecEndSystem, kOidIpsecUser, kOidAnyEku}))
        return CertError::kNone;
      *detail = "extendedKeyUsage has none of clientAuth, ipsecIKE, iKEIntermediate, "
                "ipsecEndSystem, ipsecUser, anyExtendedKeyUsage";
      return CertError::kBadUsage;
    case EkuPolicy::kServer:
      if (present && HasAny(eku, {kOidServerAuth, kOidIkeIntermediate})) return CertError::kNone;
      *detail = "extendedKeyUsage lacks serverAuth / iKEIntermediate (Windows requires one)";
      return CertError::kBadUsage;
  }
  return CertError::kNone;
}

CertError MapVerifyError(int err) {
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
    case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD:
      return CertError::kExpired;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return CertError::kUntrusted;
    default:
      return CertError::kInvalid;
  }
}

}  // namespace

std::string_view CertErrorName(CertError e) {
  switch (e) {
    case CertError::kNone: return "ok";
    case CertError::kUnavailable: return "no certificate";
    case CertError::kBadEncoding: return "certificate does not parse";
    case CertError::kUnsupported: return "certificate encoding not supported";
    case CertError::kUntrusted: return "certificate not issued by a configured CA";
    case CertError::kExpired: return "certificate expired or not yet valid";
    case CertError::kBadUsage: return "certificate key usage / EKU not acceptable";
    case CertError::kInvalid: return "certificate chain invalid";
    case CertError::kIdMismatch: return "ID payload does not match the certificate";
    case CertError::kBadSignature: return "signature did not verify";
  }
  return "?";
}

// --- PeerCert ---------------------------------------------------------------

PeerCert::~PeerCert() { X509_free(AsX509(x509_)); }

bool PeerCert::MatchesId(const IdPayload& id) const {
  X509* x = AsX509(x509_);
  if (id.type == IdType::kDerAsn1Dn) {
    const unsigned char* p = id.data.data();
    X509_NAME* n = d2i_X509_NAME(nullptr, &p, static_cast<long>(id.data.size()));
    if (!n) return false;
    bool same = X509_NAME_cmp(n, X509_get_subject_name(x)) == 0;
    X509_NAME_free(n);
    return same;
  }
  int want;
  switch (id.type) {
    case IdType::kFqdn: want = GEN_DNS; break;
    case IdType::kUserFqdn: want = GEN_EMAIL; break;
    case IdType::kIpv4Addr: want = GEN_IPADD; break;
    default: return false;
  }
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (!sans) return false;
  bool found = false;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans) && !found; ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != want) continue;
    const ASN1_STRING* s = want == GEN_DNS     ? g->d.dNSName
                           : want == GEN_EMAIL ? g->d.rfc822Name
                                               : g->d.iPAddress;
    const uint8_t* d = ASN1_STRING_get0_data(s);
    size_t len = static_cast<size_t>(ASN1_STRING_length(s));
    if (len != id.data.size()) continue;
    // Names compare without case (RFC 4945 3.1.2/3.1.3), addresses exactly.
    found = want == GEN_IPADD
                ? std::memcmp(d, id.data.data(), len) == 0
                : strncasecmp(reinterpret_cast<const char*>(d),
                              reinterpret_cast<const char*>(id.data.data()), len) == 0;
  }
  GENERAL_NAMES_free(sans);
  return found;
}

bool PeerCert::VerifySignature(ByteSpan hash, ByteSpan sig) const {
  EVP_PKEY* pub = X509_get0_pubkey(AsX509(x509_));
  if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA) return false;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(pub, nullptr);
  bool ok = ctx && EVP_PKEY_verify_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_verify(ctx, sig.data(), sig.size(), hash.data(), hash.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

std::string PeerCert::Subject() const {
  return DnToString(NameToDer(X509_get_subject_name(AsX509(x509_))));
}

// --- CertStore --------------------------------------------------------------

absl::StatusOr<std::unique_ptr<CertStore>> CertStore::Load(const std::string& ca_file,
                                                           const std::string& cert_file,
                                                           const std::string& key_file) {
  if (ca_file.empty() || cert_file.empty() || key_file.empty())
    return absl::InvalidArgumentError(
        "[ike] certificate authentication needs ca_file, cert_file and key_file together");
  std::unique_ptr<CertStore> s(new CertStore());
  std::string err;
  std::vector<X509Ptr> cas = ReadPemCerts(ca_file, &err);
  if (cas.empty()) return absl::InvalidArgumentError("[ike] ca_file: " + err);
  X509_STORE* store = X509_STORE_new();
  s->store_ = store;
  for (auto& ca : cas) {
    X509_STORE_add_cert(store, ca.get());
    s->ca_names_der_.push_back(NameToDer(X509_get_subject_name(ca.get())));
  }
  std::vector<X509Ptr> mine = ReadPemCerts(cert_file, &err);
  if (mine.empty()) return absl::InvalidArgumentError("[ike] cert_file: " + err);
  for (auto& c : mine) s->own_chain_der_.push_back(ToDer(c.get()));
  s->own_subject_der_ = NameToDer(X509_get_subject_name(mine[0].get()));

  BIO* bio = BIO_new_file(key_file.c_str(), "r");
  if (!bio) {
    ERR_clear_error();
    return absl::InvalidArgumentError("[ike] key_file: cannot open " + key_file);
  }
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!key) return absl::InvalidArgumentError("[ike] key_file " + key_file + ": " + OpenSslError());
  s->key_ = key;
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
    return absl::InvalidArgumentError("[ike] key_file: only RSA keys (IKEv1 auth method 3)");
  if (X509_check_private_key(mine[0].get(), key) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("[ike] key_file does not belong to cert_file");
  }
  std::string detail;
  s->own_server_eku_ = CheckUsage(mine[0].get(), EkuPolicy::kServer, &detail) == CertError::kNone;
  if (!s->own_server_eku_)
    VPN_LOG(ike, kWarn, "[ike] cert_file %s: %s; Windows clients will refuse it", cert_file,
            detail);
  return s;
}

CertStore::~CertStore() {
  X509_STORE_free(static_cast<X509_STORE*>(store_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

absl::StatusOr<Bytes> CertStore::Sign(ByteSpan hash) const {
  auto* key = static_cast<EVP_PKEY*>(key_);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  Bytes sig(static_cast<size_t>(EVP_PKEY_get_size(key)));
  size_t len = sig.size();
  bool ok = ctx && EVP_PKEY_sign_init(ctx) == 1 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
            EVP_PKEY_sign(ctx, sig.data(), &len, hash.data(), hash.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError("RSA sign: " + OpenSslError());
  sig.resize(len);
  return sig;
}

CertError CertStore::Verify(const std::vector<Bytes>& certs, absl::Time now, EkuPolicy policy,
                            std::unique_ptr<PeerCert>* leaf_out, std::string* detail) const {
  if (certs.empty()) return CertError::kUnavailable;
  std::vector<X509Ptr> parsed;
  for (const Bytes& der : certs) {
    X509Ptr x = FromDer(der);
    if (!x) {
      *detail = "DER does not parse";
      ERR_clear_error();
      return CertError::kBadEncoding;
    }
    parsed.push_back(std::move(x));
  }
  // The leaf issued none of the others (peers send it first, but RFC 2408
  // 3.9 does not promise an order).
  size_t leaf = 0;
  for (size_t i = 0; i < parsed.size(); ++i) {
    bool issuer = false;
    for (size_t j = 0; j < parsed.size(); ++j)
      if (i != j && X509_NAME_cmp(X509_get_subject_name(parsed[i].get()),
                                  X509_get_issuer_name(parsed[j].get())) == 0)
        issuer = true;
    if (!issuer) {
      leaf = i;
      break;
    }
  }
  X509* x = parsed[leaf].get();
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 0; i < parsed.size(); ++i)
    if (i != leaf) sk_X509_push(untrusted, parsed[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  CertError result = CertError::kInvalid;
  if (ctx && X509_STORE_CTX_init(ctx, static_cast<X509_STORE*>(store_), x, untrusted) == 1) {
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), absl::ToTimeT(now));
    if (X509_verify_cert(ctx) == 1) {
      result = CertError::kNone;
    } else {
      int err = X509_STORE_CTX_get_error(ctx);
      *detail = std::string(X509_verify_cert_error_string(err)) + " at depth " +
                std::to_string(X509_STORE_CTX_get_error_depth(ctx));
      result = MapVerifyError(err);
    }
  }
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);  // the certificates belong to `parsed`
  ERR_clear_error();
  if (result != CertError::kNone) return result;
  EVP_PKEY* pub = X509_get0_pubkey(x);
  if (!pub || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA) {
    *detail = "not an RSA key (auth method 3 is RSA signatures)";
    return CertError::kBadUsage;
  }
  if (CertError e = CheckUsage(x, policy, detail); e != CertError::kNone) return e;
  X509_up_ref(x);
  leaf_out->reset(new PeerCert(x));
  return CertError::kNone;
}

CertError CertsFromPayload(const CertPayload& c, std::vector<Bytes>* out) {
  constexpr uint8_t kPkcs7 = 1, kX509Sig = 4;
  if (c.encoding == kX509Sig) {
    out->push_back(c.data);
    return CertError::kNone;
  }
  if (c.encoding != kPkcs7) return CertError::kUnsupported;
  const unsigned char* p = c.data.data();
  PKCS7* p7 = d2i_PKCS7(nullptr, &p, static_cast<long>(c.data.size()));
  if (!p7) {
    ERR_clear_error();
    return CertError::kBadEncoding;
  }
  CertError r = CertError::kBadEncoding;
  if (PKCS7_type_is_signed(p7) && p7->d.sign && p7->d.sign->cert) {
    for (int i = 0; i < sk_X509_num(p7->d.sign->cert); ++i)
      out->push_back(ToDer(sk_X509_value(p7->d.sign->cert, i)));
    r = CertError::kNone;
  }
  PKCS7_free(p7);
  return r;
}

std::string DnToString(ByteSpan der) {
  const unsigned char* p = der.data();
  X509_NAME* n = d2i_X509_NAME(nullptr, &p, static_cast<long>(der.size()));
  if (!n) {
    ERR_clear_error();
    return "";
  }
  BIO* bio = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(bio, n, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string s(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_NAME_free(n);
  return s;
}

}  // namespace vpn::ike
