// RSA signature authentication (Main Mode auth method 3, RFC 2409 5.1):
// our initiator with X.509 certificates against our responder, with a PKI
// generated at test time. Each refusal must carry the right notify and
// bump its counter.
#include <openssl/rsa.h>

// CertSpec literals name only the fields each certificate needs.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "certs.h"
#include "gtest/gtest.h"
#include "sig_auth.h"
#include "test_net.h"
#include "test_pki.h"

namespace vpn::ike::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace cert_test {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1700000000);  // ManualTimerQueue's clock

struct Pki {
  TestPki pki;
  std::string ca, other_ca, server_cert, server_key, server_noeku;
  std::string client_key, good, chain, expired, wrong_ca, wrong_eku, no_eku, not_rsa_usage;

  Pki() {
    const absl::Time nb = kStart - absl::Hours(24), na = kStart + absl::Hours(24 * 365);
    EVP_PKEY* ca_key = pki.NewKey();
    X509* ca_cert = pki.Issue({.cn = "Test Root CA", .ca = true, .not_before = nb, .not_after = na},
                              ca_key, nullptr, nullptr);
    EVP_PKEY* other_key = pki.NewKey();
    X509* other_cert = pki.Issue(
        {.cn = "Other Root CA", .ca = true, .not_before = nb, .not_after = na}, other_key,
        nullptr, nullptr);
    EVP_PKEY* sub_key = pki.NewKey();
    X509* sub_cert = pki.Issue({.cn = "Test Sub CA", .ca = true, .not_before = nb, .not_after = na},
                               sub_key, ca_cert, ca_key);
    ca = pki.WriteCerts("ca.pem", {ca_cert});
    other_ca = pki.WriteCerts("other-ca.pem", {other_cert});

    EVP_PKEY* skey = pki.NewKey();
    server_key = pki.WriteKey("server.key", skey);
    X509* s = pki.Issue({.cn = "vpn.example", .eku = "serverAuth,1.3.6.1.5.5.8.2.2",
                         .san = "DNS:vpn.example", .key_usage = "digitalSignature,keyEncipherment",
                         .not_before = nb, .not_after = na},
                        skey, ca_cert, ca_key);
    server_cert = pki.WriteCerts("server.pem", {s});
    X509* s2 = pki.Issue({.cn = "vpn.example", .san = "DNS:vpn.example", .not_before = nb,
                          .not_after = na},
                         skey, ca_cert, ca_key);
    server_noeku = pki.WriteCerts("server-noeku.pem", {s2});

    EVP_PKEY* ckey = pki.NewKey();
    client_key = pki.WriteKey("client.key", ckey);
    auto client = [&](const std::string& file, CertSpec spec, X509* issuer, EVP_PKEY* ikey,
                      std::vector<X509*> extra = {}) {
      if (spec.cn.empty()) spec.cn = "laptop1";
      if (spec.san.empty()) spec.san = "DNS:laptop1.example,email:user@laptop1.example";
      X509* c = pki.Issue(spec, ckey, issuer, ikey);
      extra.insert(extra.begin(), c);
      return pki.WriteCerts(file, extra);
    };
    good = client("good.pem", {.eku = "clientAuth", .not_before = nb, .not_after = na}, ca_cert,
                  ca_key);
    chain = client("chain.pem", {.eku = "clientAuth", .not_before = nb, .not_after = na},
                   sub_cert, sub_key, {sub_cert});
    expired = client("expired.pem",
                     {.eku = "clientAuth", .not_before = kStart - absl::Hours(24 * 730),
                      .not_after = kStart - absl::Hours(24 * 365)},
                     ca_cert, ca_key);
    wrong_ca = client("wrong-ca.pem", {.eku = "clientAuth", .not_before = nb, .not_after = na},
                      other_cert, other_key);
    wrong_eku = client("wrong-eku.pem",
                       {.eku = "emailProtection,codeSigning", .not_before = nb, .not_after = na},
                       ca_cert, ca_key);
    no_eku = client("no-eku.pem", {.not_before = nb, .not_after = na}, ca_cert, ca_key);
    not_rsa_usage = client("ku.pem",
                           {.eku = "clientAuth", .key_usage = "keyEncipherment",
                            .not_before = nb, .not_after = na},
                           ca_cert, ca_key);
  }
};

Pki& P() {
  static Pki* p = new Pki();  // generated once per test binary
  return *p;
}

config::Ike ServerCfg(const std::string& cert = "") {
  config::Ike c;
  c.proposals = {"aes256-sha1-modp2048", "aes128-sha256-ecp256"};
  c.esp_proposals = {"aes128-sha1"};
  c.ca_file = P().ca;
  c.cert_file = cert.empty() ? P().server_cert : cert;
  c.key_file = P().server_key;
  return c;
}

config::Ike ClientCfg(const std::string& cert) {
  config::Ike c;
  c.proposals = {"aes256-sha1-modp2048"};
  c.esp_proposals = {"aes128-sha1"};
  c.ca_file = P().ca;
  c.cert_file = cert;
  c.key_file = P().client_key;
  return c;
}

InitiatorOptions CertOpts() {
  InitiatorOptions o;
  o.auth = AuthMethod::kRsaSig;
  return o;
}

struct Fixture {
  cp::ManualTimerQueue timers{kStart};
  std::unique_ptr<Net> net;
  explicit Fixture(const config::Ike& server = ServerCfg(), bool nat = true) {
    net = std::make_unique<Net>(timers, server, nat);
    EXPECT_TRUE(net->server->init_status().ok()) << net->server->init_status();
  }
  Net::Client& Connect(const config::Ike& cfg, InitiatorOptions o = CertOpts()) {
    Net::Client& c = net->AddClient(cfg, o);
    EXPECT_TRUE(c.ike->init_status().ok()) << c.ike->init_status();
    auto id = c.ike->Connect(c.local, net->server_ep);
    EXPECT_TRUE(id.ok()) << id.status();
    net->Pump();
    return c;
  }
  Responder& server() { return *net->server; }
  // Unprotected notifies the server sent (refusals before phase 1 is done).
  std::vector<NotifyType> ServerNotifies() {
    std::vector<NotifyType> out;
    for (const Packet& p : net->wire) {
      if (p.to_server) continue;
      auto m = ParsePlainMessage(p.data);
      if (!m.ok() || m->hdr.exchange != ExchangeType::kInformational) continue;
      for (const RawPayload& pl : m->payloads)
        if (pl.type == PayloadType::kNotify)
          if (auto n = ParseNotify(pl.body); n.ok()) out.push_back(n->type);
    }
    return out;
  }
  bool Established(Net::Client& c) {
    auto l = c.ike->ListIkeSas();
    return l.size() == 1 && l[0].state == "ESTABLISHED";
  }
};

TEST(CertAuth, GoodCertificateEstablishesBothPhases) {
  Fixture f;
  Net::Client& c = f.Connect(ClientCfg(P().good));
  ASSERT_TRUE(f.Established(c));
  auto sas = f.server().ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0].state, "ESTABLISHED");
  EXPECT_EQ(sas[0].peer_id, "CN=laptop1,O=Concentrator Test");  // ID_DER_ASN1_DN
  EXPECT_EQ(c.ike->ListIkeSas()[0].peer_id, "CN=vpn.example,O=Concentrator Test");
  ASSERT_EQ(f.net->server_sink.installed().size(), 1u);
  ASSERT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(f.net->server_sink.installed().begin()->second.inbound.cipher_key,
            c.sink.installed().begin()->second.outbound.cipher_key);
  // Message 4 carried our CERTREQ naming the CA; message 3 the client's.
  int certreqs_from_server = 0, certreqs_from_client = 0;
  for (const Packet& p : f.net->wire) {
    auto m = ParsePlainMessage(p.data);
    if (!m.ok()) continue;
    (p.to_server ? certreqs_from_client : certreqs_from_server) += m->Count(PayloadType::kCertReq);
  }
  EXPECT_EQ(certreqs_from_server, 1);
  EXPECT_EQ(certreqs_from_client, 1);
  EXPECT_TRUE(f.ServerNotifies().empty());
  EXPECT_EQ(f.server().counters().auth_failed, 0u);
}

TEST(CertAuth, ChainWithIntermediateAndCertWithoutEku) {
  for (const std::string* cert : {&P().chain, &P().no_eku}) {
    Fixture f;
    Net::Client& c = f.Connect(ClientCfg(*cert));
    EXPECT_TRUE(f.Established(c)) << *cert;
    EXPECT_EQ(f.server().counters().ike_sa_established, 1u);
  }
}

TEST(CertAuth, FqdnAndUserFqdnIdsMatchSubjectAltNames) {
  for (IdType t : {IdType::kFqdn, IdType::kUserFqdn}) {
    Fixture f;
    InitiatorOptions o = CertOpts();
    IdPayload id;
    id.type = t;
    id.data = ToBytes(t == IdType::kFqdn ? "LAPTOP1.example" : "user@laptop1.example");
    o.local_id = id;
    Net::Client& c = f.Connect(ClientCfg(P().good), o);
    EXPECT_TRUE(f.Established(c));
  }
}

struct Refusal {
  const char* name;
  std::string Pki::*cert;
  NotifyType notify;
  uint64_t Counters::*counter;
};

class CertRefused : public ::testing::TestWithParam<Refusal> {};

TEST_P(CertRefused, WithTheRightNotifyAndCounter) {
  const Refusal& r = GetParam();
  Fixture f;
  Net::Client& c = f.Connect(ClientCfg(P().*r.cert));
  EXPECT_FALSE(f.Established(c));
  EXPECT_EQ(f.server().counters().ike_sa_established, 0u);
  EXPECT_EQ(f.server().counters().*r.counter, 1u);
  EXPECT_EQ(f.ServerNotifies(), std::vector<NotifyType>{r.notify});
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  // The refused client gave up at once (unprotected error notify).
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Certs, CertRefused,
    ::testing::Values(
        Refusal{"expired", &Pki::expired, NotifyType::kInvalidCertificate, &Counters::cert_expired},
        Refusal{"wrong_ca", &Pki::wrong_ca, NotifyType::kInvalidCertAuthority,
                &Counters::cert_untrusted},
        Refusal{"wrong_eku", &Pki::wrong_eku, NotifyType::kInvalidCertificate,
                &Counters::cert_bad_usage},
        Refusal{"key_usage", &Pki::not_rsa_usage, NotifyType::kInvalidCertificate,
                &Counters::cert_bad_usage}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(CertAuth, IdMismatchIsRefused) {
  Fixture f;
  InitiatorOptions o = CertOpts();
  IdPayload id;
  id.type = IdType::kFqdn;
  id.data = ToBytes("someone-else.example");
  o.local_id = id;
  Net::Client& c = f.Connect(ClientCfg(P().good), o);
  EXPECT_FALSE(f.Established(c));
  EXPECT_EQ(f.server().counters().cert_id_mismatch, 1u);
  EXPECT_EQ(f.ServerNotifies(), std::vector<NotifyType>{NotifyType::kInvalidIdInformation});
}

TEST(CertAuth, MissingCertificateIsRefused) {
  Fixture f;
  InitiatorOptions o = CertOpts();
  o.send_cert = false;
  Net::Client& c = f.Connect(ClientCfg(P().good), o);
  EXPECT_FALSE(f.Established(c));
  EXPECT_EQ(f.server().counters().cert_unavailable, 1u);
  EXPECT_EQ(f.ServerNotifies(), std::vector<NotifyType>{NotifyType::kCertificateUnavailable});
}

TEST(CertAuth, ClientRefusesGatewayCertificateWithoutServerEku) {
  // Windows' rule (seed 003), enforced by our initiator.
  Fixture f(ServerCfg(P().server_noeku));
  Net::Client& c = f.Connect(ClientCfg(P().good));
  EXPECT_EQ(c.ike->counters().cert_bad_usage, 1u);
  EXPECT_TRUE(c.ike->ListIkeSas().empty());
  // Without that rule the same gateway is accepted.
  Fixture g(ServerCfg(P().server_noeku));
  InitiatorOptions o = CertOpts();
  o.require_server_eku = false;
  Net::Client& d = g.Connect(ClientCfg(P().good), o);
  EXPECT_TRUE(g.Established(d));
}

TEST(CertAuth, ClientRefusesGatewayFromAnotherCa) {
  Fixture f;
  config::Ike cfg = ClientCfg(P().good);
  cfg.ca_file = P().other_ca;  // the client trusts another root only
  Net::Client& c = f.Connect(cfg);
  EXPECT_EQ(c.ike->counters().cert_untrusted, 1u);
  EXPECT_TRUE(c.ike->ListIkeSas().empty());
}

TEST(CertAuth, PskAndCertificateClientsSideBySideAndPerPeerRules) {
  config::Ike server = ServerCfg();
  server.psk = "secret123";
  // This identity must use its certificate, this address its PSK only.
  server.peers.push_back({"laptop9.example", "", 0, config::IkeAuth::kCert});
  Fixture f(server, /*nat=*/false);
  config::Ike psk_client;
  psk_client.psk = "secret123";
  psk_client.proposals = {"aes256-sha1-modp2048"};
  psk_client.esp_proposals = {"aes128-sha1"};
  Net::Client& a = f.Connect(psk_client, InitiatorOptions{});
  Net::Client& b = f.Connect(ClientCfg(P().good));
  EXPECT_TRUE(f.Established(a));
  EXPECT_TRUE(f.Established(b));
  // A PSK login claiming the certificate-only identity is refused.
  InitiatorOptions o;
  IdPayload id;
  id.type = IdType::kFqdn;
  id.data = ToBytes("laptop9.example");
  o.local_id = id;
  Net::Client& c = f.Connect(psk_client, o);
  EXPECT_FALSE(f.Established(c));
  EXPECT_EQ(f.server().counters().auth_method_refused, 1u);

  // An address configured for certificates only: a PSK proposal is refused
  // in message 1 (NO-PROPOSAL-CHOSEN), a certificate works.
  config::Ike by_ip = ServerCfg();
  by_ip.psk = "secret123";
  by_ip.peers.push_back({"198.18.0.10", "", 0, config::IkeAuth::kCert});
  Fixture g(by_ip, false);
  Net::Client& d = g.Connect(psk_client, InitiatorOptions{});
  EXPECT_FALSE(g.Established(d));
  EXPECT_EQ(g.server().counters().no_proposal_chosen, 1u);
  Fixture h(by_ip, false);
  Net::Client& e = h.Connect(ClientCfg(P().good));
  EXPECT_TRUE(h.Established(e));
}

// IKE fragmentation (fragments.h) where it matters: certificates make
// messages 5 and 6 larger than a small path MTU.
struct WireStats {
  int frags_to_server = 0, frags_to_client = 0;
  size_t largest = 0;
};
WireStats Stats(const Net& net) {
  WireStats w;
  for (const Packet& p : net.wire) {
    w.largest = std::max(w.largest, p.data.size());
    auto h = ParseHeader(p.data);
    if (h.ok() && h->next == PayloadType::kFragment) (p.to_server ? w.frags_to_server : w.frags_to_client)++;
  }
  return w;
}

TEST(Fragmentation, CertificateExchangeInFragmentsBothWays) {
  config::Ike server = ServerCfg();
  server.fragment_size = 576;
  config::Ike client = ClientCfg(P().chain);  // leaf + intermediate: ~2.5 KB message 5
  client.fragment_size = 576;
  Fixture f(server);
  Net::Client& c = f.Connect(client);
  ASSERT_TRUE(f.Established(c));
  WireStats w = Stats(*f.net);
  EXPECT_GE(w.frags_to_server, 4);
  EXPECT_GE(w.frags_to_client, 2);
  EXPECT_LE(w.largest, 576u - 20 - 8 - 4);  // IP + UDP + non-ESP marker on 4500
  EXPECT_EQ(f.server().counters().fragments_reassembled, 1u);
  EXPECT_EQ(c.ike->counters().fragments_reassembled, 1u);
  EXPECT_EQ(f.server().counters().fragments_dropped, 0u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
}

TEST(Fragmentation, LostFragmentRecoveredByRetransmission) {
  config::Ike server = ServerCfg();
  server.fragment_size = 576;
  config::Ike client = ClientCfg(P().chain);
  client.fragment_size = 576;
  Fixture f(server);
  int seen = 0;
  f.net->drop = [&](const Packet& p) {
    auto h = ParseHeader(p.data);
    return p.to_server && h.ok() && h->next == PayloadType::kFragment && ++seen == 2;
  };
  Net::Client& c = f.Connect(client);
  EXPECT_FALSE(f.Established(c));
  for (int i = 0; i < 5 && !f.Established(c); ++i) {
    f.timers.Advance(absl::Seconds(2));
    f.net->Pump();
  }
  EXPECT_TRUE(f.Established(c));
  EXPECT_GE(c.ike->counters().retransmits, 1u);
  EXPECT_EQ(f.server().counters().ike_sa_established, 1u);
}

TEST(Fragmentation, NotSentToPeersThatDidNotAnnounceIt) {
  config::Ike server = ServerCfg();
  server.fragment_size = 576;
  config::Ike client = ClientCfg(P().good);
  client.fragment_size = 576;
  Fixture f(server);
  InitiatorOptions o = CertOpts();
  o.send_frag_vid = false;
  Net::Client& c = f.Connect(client, o);
  ASSERT_TRUE(f.Established(c));
  WireStats w = Stats(*f.net);
  EXPECT_EQ(w.frags_to_server, 0);
  EXPECT_EQ(w.frags_to_client, 0);
  EXPECT_GT(w.largest, 576u);
}

TEST(CertStore, LoadErrorsAndRawPkcs1Signature) {
  EXPECT_FALSE(CertStore::Load(P().ca, P().good, P().server_key).ok());  // key mismatch
  EXPECT_FALSE(CertStore::Load(P().ca, "/nonexistent.pem", P().client_key).ok());
  EXPECT_FALSE(CertStore::Load("", P().good, P().client_key).ok());
  auto store = CertStore::Load(P().ca, P().good, P().client_key);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE((*store)->own_cert_has_server_eku());
  Bytes hash(20, 0x5A);
  auto sig = (*store)->Sign(hash);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 256u);
  // IKEv1 signs the raw hash (no DigestInfo): the public-key operation
  // recovers exactly the 20 hash bytes.
  BIO* bio = BIO_new_file(P().good.c_str(), "r");
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(X509_get0_pubkey(x), nullptr);
  ASSERT_EQ(EVP_PKEY_verify_recover_init(ctx), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
  Bytes rec(256);
  size_t len = rec.size();
  ASSERT_EQ(EVP_PKEY_verify_recover(ctx, rec.data(), &len, sig->data(), sig->size()), 1);
  rec.resize(len);
  EXPECT_EQ(rec, hash);
  EVP_PKEY_CTX_free(ctx);
  X509_free(x);

  // Verification of a chain by the store and the signature by the leaf.
  std::vector<Bytes> ders = (*store)->own_chain();
  std::unique_ptr<PeerCert> leaf;
  std::string detail;
  ASSERT_EQ((*store)->Verify(ders, kStart, EkuPolicy::kClient, &leaf, &detail), CertError::kNone)
      << detail;
  EXPECT_TRUE(leaf->VerifySignature(hash, *sig));
  Bytes other = hash;
  other[0] ^= 1;
  EXPECT_FALSE(leaf->VerifySignature(other, *sig));
  EXPECT_EQ((*store)->Verify(ders, kStart + absl::Hours(24 * 400), EkuPolicy::kClient, &leaf,
                             &detail),
            CertError::kExpired);
  EXPECT_EQ((*store)->Verify({Bytes{0x30, 0x03, 1, 2, 3}}, kStart, EkuPolicy::kClient, &leaf,
                             &detail),
            CertError::kBadEncoding);
  EXPECT_EQ((*store)->Verify({}, kStart, EkuPolicy::kClient, &leaf, &detail),
            CertError::kUnavailable);
}

}  // namespace
}  // namespace cert_test
}  // namespace vpn::ike::testing
