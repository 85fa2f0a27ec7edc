// A throw-away PKI for certificate tests, made with OpenSSL at test time
// in a temporary directory (nothing private is committed): RSA keys, CA and
// end-entity certificates with chosen validity, EKU and subjectAltNames.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace vpn::ike::testing {

struct CertSpec {
  std::string cn;
  std::string org = "Concentrator Test";
  bool ca = false;
  std::string eku;       // X509V3 text ("serverAuth", "clientAuth,1.3.6.1.5.5.8.2.2"), "" = none
  std::string san;       // X509V3 text ("DNS:vpn.example,IP:198.18.0.254"), "" = none
  std::string key_usage; // "" = none
  absl::Time not_before, not_after;
};

class TestPki {
 public:
  TestPki() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ike-pki-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~TestPki() {
    for (EVP_PKEY* k : keys_) EVP_PKEY_free(k);
    for (X509* c : certs_) X509_free(c);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  EVP_PKEY* NewKey(int bits = 2048) {
    EVP_PKEY* k = EVP_RSA_gen(bits);
    keys_.push_back(k);
    return k;
  }

  // Issues `spec` for `key`, signed by (issuer, issuer_key); self-signed
  // when issuer is null.
  X509* Issue(const CertSpec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
    X509* x = X509_new();
    certs_.push_back(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial_);
    ASN1_TIME_set(X509_getm_notBefore(x), absl::ToTimeT(spec.not_before));
    ASN1_TIME_set(X509_getm_notAfter(x), absl::ToTimeT(spec.not_after));
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.org.c_str()), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, nullptr, nullptr, 0);
    auto add = [&](int nid, const std::string& value) {
      if (value.empty()) return;
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
      X509_add_ext(x, e, -1);
      X509_EXTENSION_free(e);
    };
    add(NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "CA:FALSE");
    add(NID_key_usage, spec.ca ? "critical,keyCertSign,cRLSign" : spec.key_usage);
    add(NID_ext_key_usage, spec.eku);
    add(NID_subject_alt_name, spec.san);
    add(NID_subject_key_identifier, "hash");
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
  }

  // Writes PEM certificates (in order) / a key; returns the path.
  std::string WriteCerts(const std::string& name, const std::vector<X509*>& certs) {
    std::string path = dir_ + "/" + name;
    FILE* f = fopen(path.c_str(), "w");
    for (X509* c : certs) PEM_write_X509(f, c);
    fclose(f);
    return path;
  }
  std::string WriteKey(const std::string& name, EVP_PKEY* key) {
    std::string path = dir_ + "/" + name;
    FILE* f = fopen(path.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(f);
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  long serial_ = 0;
  std::vector<EVP_PKEY*> keys_;
  std::vector<X509*> certs_;
};

}  // namespace vpn::ike::testing
