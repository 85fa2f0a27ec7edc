// Exchange tests: our initiator against our responder over an in-process
// network with and without NAPT, for every proposal Windows 11 offers
// (seed 004), checking both sides derive identical ESP keys.
#include <random>
#include <set>

#include "gtest/gtest.h"
#include "net_fixture.h"
#include "test_net.h"

namespace vpn::ike::testing {
namespace {

config::Ike ServerCfg() {
  config::Ike c;
  c.psk = "secret123";  // seed 004
  c.proposals = {"aes256-sha1-modp2048"};
  c.esp_proposals = {"aes128-sha1"};
  return c;
}

config::Ike Windows11Cfg() {
  config::Ike c;
  c.psk = "secret123";
  c.proposals = Windows11IkeProposals();
  c.esp_proposals = Windows11EspProposals();
  return c;
}

// Every test names the client's config at Connect (several clients differ).
struct Fixture : NetFixture {
  Fixture(const config::Ike& server, bool nat) : NetFixture(server, config::Ike{}, nat) {}
  Net::Client& Connect(const config::Ike& client_cfg, InitiatorOptions opts = {}) {
    return NetFixture::Connect(opts, client_cfg);
  }
};

// The two directions of one ESP pair must mirror each other exactly.
void ExpectMirrored(const cp::ChildSaInstall& server, const cp::ChildSaInstall& client) {
  EXPECT_EQ(server.inbound.spi, client.outbound.spi);
  EXPECT_EQ(server.outbound.spi, client.inbound.spi);
  EXPECT_EQ(server.inbound.cipher_key, client.outbound.cipher_key);
  EXPECT_EQ(server.inbound.integ_key, client.outbound.integ_key);
  EXPECT_EQ(server.inbound.salt, client.outbound.salt);
  EXPECT_EQ(server.outbound.cipher_key, client.inbound.cipher_key);
  EXPECT_EQ(server.outbound.integ_key, client.inbound.integ_key);
  EXPECT_NE(server.inbound.cipher_key, server.outbound.cipher_key);
  EXPECT_EQ(server.cipher, client.cipher);
  EXPECT_EQ(server.integ, client.integ);
  EXPECT_EQ(server.encap, client.encap);
  EXPECT_EQ(server.lifetime_seconds, client.lifetime_seconds);
}

const cp::ChildSaInstall& Only(const cp::RecordingSaSink& s) {
  EXPECT_EQ(s.installed().size(), 1u);
  return s.installed().begin()->second;
}

class EveryWindowsProposal : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(EveryWindowsProposal, IkeSuiteNegotiatesAndKeysMatch) {
  auto [proposal, nat] = GetParam();
  config::Ike server = ServerCfg();
  server.proposals = {proposal};
  Fixture f(server, nat);
  Net::Client& c = f.Connect(Windows11Cfg());
  auto sas = f.net->server->ListIkeSas();
  ASSERT_EQ(sas.size(), 1u);
  EXPECT_EQ(sas[0].state, "ESTABLISHED");
  EXPECT_EQ(sas[0].suite, proposal);
  EXPECT_EQ(sas[0].peer_behind_nat, nat);
  auto csas = c.ike->ListIkeSas();
  ASSERT_EQ(csas.size(), 1u);
  EXPECT_EQ(csas[0].suite, proposal);
  const auto& s = Only(f.net->server_sink);
  const auto& k = Only(c.sink);
  ExpectMirrored(s, k);
  EXPECT_EQ(s.cipher, shm::Cipher::kAesCbc);
  EXPECT_EQ(s.inbound.cipher_key.size(), 16u);
  EXPECT_EQ(s.inbound.integ_key.size(), 20u);
  EXPECT_EQ(s.encap, nat ? shm::Encap::kUdp : shm::Encap::kNone);
  if (nat) {
    EXPECT_EQ(ntohs(s.local_port), kNatTPort);
    EXPECT_EQ(s.peer_ip, Ip(Net::kNatPublic));
    EXPECT_NE(ntohs(s.peer_port), kNatTPort);  // the NAT's mapping of 4500
    EXPECT_EQ(ntohs(k.peer_port), kNatTPort);
    ASSERT_EQ(f.net->server_events.installed.size(), 1u);
    EXPECT_EQ(f.net->server_events.installed[0].peer_inner_ip, Ip(Net::kPrivate));
  } else {
    EXPECT_EQ(s.local_port, 0);
    EXPECT_EQ(s.peer_port, 0);
  }
  EXPECT_EQ(s.lifetime_seconds, 3600u);
  EXPECT_EQ(s.lifetime_kbytes, 250000u);
  EXPECT_EQ(f.net->server->counters().ike_sa_established, 1u);
  EXPECT_EQ(f.net->server->counters().child_sa_installed, 1u);
}

INSTANTIATE_TEST_SUITE_P(Windows11, EveryWindowsProposal,
                         ::testing::Combine(::testing::ValuesIn(Windows11IkeProposals()),
                                            ::testing::Bool()));

class EveryWindowsEsp : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

TEST_P(EveryWindowsEsp, EspSuiteNegotiatesAndKeysMatch) {
  auto [esp, nat] = GetParam();
  config::Ike server = ServerCfg();
  server.esp_proposals = {esp};
  server.allow_weak_esp = true;
  Fixture f(server, nat);
  Net::Client& c = f.Connect(Windows11Cfg());
  const auto& s = Only(f.net->server_sink);
  ExpectMirrored(s, Only(c.sink));
  EspSuite want = *ParseEspSuite(esp);
  EXPECT_EQ(s.cipher, want.shm_cipher());
  EXPECT_EQ(s.inbound.cipher_key.size(), want.cipher_key_len());
  EXPECT_TRUE(s.allow_weak);
}

INSTANTIATE_TEST_SUITE_P(Windows11, EveryWindowsEsp,
                         ::testing::Combine(::testing::ValuesIn(Windows11EspProposals()),
                                            ::testing::Bool()));

TEST(Exchange, WeakEspRefusedUnlessAllowed) {
  config::Ike server = ServerCfg();
  server.esp_proposals = {"3des-sha1"};
  Fixture f(server, false);
  config::Ike client = Windows11Cfg();
  client.esp_proposals = {"3des-sha1", "des-sha1"};
  Net::Client& c = f.Connect(client);
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_TRUE(c.sink.installed().empty());
  EXPECT_EQ(f.net->server->counters().qm_no_proposal_chosen, 1u);
  // The refusal reached the client, which dropped the exchange.
  EXPECT_EQ(c.sink.released().size(), 1u);
}

TEST(Exchange, DefaultConfigAcceptsWindows11AndGcmPfsWork) {
  config::Ike server;
  server.psk = "k";
  Fixture f(server, true);
  config::Ike w = Windows11Cfg();
  w.psk = "k";
  Net::Client& win = f.Connect(w);
  EXPECT_EQ(f.net->server->ListIkeSas()[0].suite, "aes256-sha1-modp2048");
  ExpectMirrored(Only(f.net->server_sink), Only(win.sink));

  // GCM with PFS (a strongSwan-like client).
  config::Ike server2;
  server2.psk = "k";
  server2.esp_proposals = {"aes256gcm16-ecp256"};
  Fixture g(server2, false);
  config::Ike sw;
  sw.psk = "k";
  sw.proposals = {"aes128-sha256-ecp256"};
  sw.esp_proposals = {"aes256gcm16-ecp256"};
  Net::Client& c = g.Connect(sw);
  const auto& s = Only(g.net->server_sink);
  ExpectMirrored(s, Only(c.sink));
  EXPECT_EQ(s.cipher, shm::Cipher::kAesGcm16);
  EXPECT_EQ(s.inbound.cipher_key.size(), 32u);
  EXPECT_EQ(s.inbound.salt.size(), 4u);
  EXPECT_TRUE(s.inbound.integ_key.empty());
}

TEST(Exchange, ManyClientsBehindOneNatGetTheirOwnSas) {
  Fixture f(ServerCfg(), true);
  for (int i = 0; i < 4; ++i) f.Connect(Windows11Cfg());
  auto sas = f.net->server->ListIkeSas();
  ASSERT_EQ(sas.size(), 4u);
  std::set<uint16_t> ports;
  for (const auto& s : sas) {
    EXPECT_EQ(s.state, "ESTABLISHED");
    EXPECT_EQ(s.remote.ip, Ip(Net::kNatPublic));
    EXPECT_EQ(s.child_sas, 1u);
    ports.insert(s.remote.port);
  }
  EXPECT_EQ(ports.size(), 4u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(f.net->clients[i]->sink.installed().size(), 1u);
  // Deleting one client leaves the others alone.
  EXPECT_EQ(f.net->server->DeleteByPeer(Ip(Net::kNatPublic), sas[1].remote.port), 1);
  f.net->Pump();
  EXPECT_EQ(f.net->server->ike_sa_count(), 3u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 3u);
  int clients_with_sa = 0;
  for (auto& c : f.net->clients) clients_with_sa += c->sink.installed().size();
  EXPECT_EQ(clients_with_sa, 3);
}

TEST(Exchange, SeedWindowsLifetimesAndResponderLifetime) {
  config::Ike server = ServerCfg();
  server.esp_lifetime_s = 1200;
  server.lifetime_s = 3600;
  Fixture f(server, false);
  config::Ike w = Windows11Cfg();  // asks 28800 s / 3600 s / 250000 KB
  Net::Client& c = f.Connect(w);
  const auto& s = Only(f.net->server_sink);
  EXPECT_EQ(s.lifetime_seconds, 1200u);
  EXPECT_EQ(Only(c.sink).lifetime_seconds, 1200u);  // via RESPONDER-LIFETIME
  auto cs = c.ike->ListIkeSas();
  EXPECT_EQ(cs[0].lifetime_left, absl::Seconds(3600));  // phase 1 notify applied
  EXPECT_GE(f.net->server->counters().notifies_sent, 2u);
  // The floor: a 60 s configuration still gives Windows 300 s.
  config::Ike low = ServerCfg();
  low.esp_lifetime_s = 60;
  Fixture g(low, false);
  g.Connect(w);
  EXPECT_EQ(Only(g.net->server_sink).lifetime_seconds, 300u);
}

TEST(Exchange, WrongPskIsRefused) {
  Fixture f(ServerCfg(), false);
  config::Ike w = Windows11Cfg();
  w.psk = "wrong";
  Net::Client& c = f.Connect(w);
  EXPECT_EQ(f.net->server->counters().auth_failed, 1u);
  f.timers.Advance(absl::Seconds(31));  // the failed SA waits for the half-open timeout
  EXPECT_EQ(f.net->server->ike_sa_count(), 0u);
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);  // the client saw the notify
  EXPECT_TRUE(f.net->server_sink.installed().empty());
}

// strongSwan ignores the unprotected notify and retransmits message 5 (the
// same bytes) before giving up: one refusal (and one log line) per attempt,
// the retransmissions are counted duplicates.
TEST(Exchange, WrongPskRetransmittedMessage5IsRefusedOnce) {
  Fixture f(ServerCfg(), false);
  config::Ike w = Windows11Cfg();
  w.psk = "wrong";
  f.Connect(w);
  ASSERT_EQ(f.net->server->counters().auth_failed, 1u);
  // The last datagram the client sent to the server is message 5.
  const Packet* mm5 = nullptr;
  for (const Packet& p : f.net->wire)
    if (p.to_server) mm5 = &p;
  ASSERT_NE(mm5, nullptr);
  const uint64_t dups = f.net->server->counters().duplicates_retransmitted;
  f.net->InjectToServer(mm5->src, mm5->data);
  f.net->InjectToServer(mm5->src, mm5->data);
  EXPECT_EQ(f.net->server->counters().auth_failed, 1u);
  EXPECT_EQ(f.net->server->counters().duplicates_retransmitted, dups + 2);
  // A different (corrupted) message 5 is still refused on its own.
  Bytes other = mm5->data;
  other.back() ^= 0x5a;
  f.net->InjectToServer(mm5->src, other);
  EXPECT_EQ(f.net->server->counters().auth_failed, 2u);
}

TEST(Exchange, NoProposalChosen) {
  config::Ike server = ServerCfg();
  server.proposals = {"aes128-sha256-ecp256"};
  Fixture f(server, false);
  Net::Client& c = f.Connect(Windows11Cfg());
  EXPECT_EQ(f.net->server->counters().no_proposal_chosen, 1u);
  EXPECT_EQ(f.net->server->ike_sa_count(), 0u);
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);
  // The refusal on the wire is an unencrypted N(NO-PROPOSAL-CHOSEN).
  const Packet& last = f.net->wire.back();
  auto m = ParsePlainMessage(last.data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->hdr.exchange, ExchangeType::kInformational);
  EXPECT_EQ(ParseNotify(m->Find(PayloadType::kNotify)->body)->type, NotifyType::kNoProposalChosen);
}

TEST(Exchange, PerPeerKeysByAddressAndIdentity) {
  config::Ike server = ServerCfg();
  server.psk = "";  // no wildcard
  server.peers = {{"198.18.0.10", "by-address", 0}, {"laptop.example", "by-id", 0}};
  Fixture f(server, false);
  config::Ike a = Windows11Cfg();
  a.psk = "by-address";
  f.Connect(a);  // client 0 is 198.18.0.10
  config::Ike b = Windows11Cfg();
  b.psk = "by-id";
  InitiatorOptions o;
  IdPayload fqdn;
  fqdn.type = IdType::kFqdn;
  fqdn.data = ToBytes(std::string_view("laptop.example"));
  o.local_id = fqdn;
  f.Connect(b, o);  // client 1, 198.18.0.11
  config::Ike bad = Windows11Cfg();
  bad.psk = "by-address";  // right key for another peer, wrong for this one
  f.Connect(bad);
  auto sas = f.net->server->ListIkeSas();
  ASSERT_EQ(sas.size(), 3u);  // the failed one waits for its half-open timeout
  EXPECT_EQ(f.net->server->counters().ike_sa_established, 2u);
  EXPECT_EQ(f.net->server->counters().auth_failed, 1u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 2u);
  const IkeSa* by_id = nullptr;
  for (const auto& s : sas)
    if (s.peer_id == "laptop.example") by_id = f.net->server->FindSa(s.id);
  ASSERT_NE(by_id, nullptr);
  EXPECT_EQ(by_id->psk_source, "peer laptop.example");
}

TEST(Exchange, AggressiveModeRefused) {
  Fixture f(ServerCfg(), false);
  Header h;
  h.icookie = 42;
  h.exchange = ExchangeType::kAggressive;
  Bytes msg = BuildPlainMessage(h, {Payload(PayloadType::kSa, EncodeSa(SaPayload{}))});
  f.net->InjectToServer({Ip("198.18.0.99"), 500}, msg);
  EXPECT_EQ(f.net->server->counters().aggressive_refused, 1u);
  EXPECT_EQ(f.net->server->ike_sa_count(), 0u);
}

TEST(Exchange, AggressiveModeWhenAllowed) {
  for (bool nat : {false, true}) {
    SCOPED_TRACE(nat ? "NAT" : "no NAT");
    config::Ike server = ServerCfg();
    server.allow_aggressive = true;
    Fixture f(server, nat);
    config::Ike client = Windows11Cfg();
    client.proposals = {"aes256-sha1-modp2048", "3des-sha1-modp2048"};
    InitiatorOptions o;
    o.aggressive = true;
    Net::Client& c = f.Connect(client, o);
    auto sas = f.net->server->ListIkeSas();
    ASSERT_EQ(sas.size(), 1u);
    EXPECT_EQ(sas[0].state, "ESTABLISHED");
    EXPECT_EQ(sas[0].peer_behind_nat, nat);
    ExpectMirrored(Only(f.net->server_sink), Only(c.sink));
    // Wrong key: in Aggressive Mode the initiator is the one to notice
    // (HASH_R), and the responder's half-open SA times out.
    client.psk = "nope";
    Net::Client& bad = f.Connect(client, o);
    EXPECT_EQ(bad.ike->counters().auth_failed, 1u);
    EXPECT_TRUE(bad.sink.installed().empty());
    f.timers.Advance(absl::Seconds(31));
    EXPECT_EQ(f.net->server->ike_sa_count(), 1u);
  }
  // Not allowed: our initiator is refused and gives up.
  Fixture g(ServerCfg(), false);
  InitiatorOptions o;
  o.aggressive = true;
  config::Ike client = Windows11Cfg();
  client.proposals = {"aes256-sha1-modp2048"};
  Net::Client& c = g.Connect(client, o);
  EXPECT_EQ(g.net->server->counters().aggressive_refused, 1u);
  EXPECT_EQ(g.net->server->ike_sa_count(), 0u);
  EXPECT_EQ(c.ike->ListIkeSas().size(), 0u);
}

TEST(Exchange, LostRepliesAreRetransmitted) {
  Fixture f(ServerCfg(), true);
  int dropped = 0;
  // Lose the server's message 4 and its Quick Mode 2 once each.
  f.net->drop = [&](const Packet& p) {
    if (p.to_server || dropped >= 2) return false;
    auto h = ParseHeader(p.data);
    bool mm4 = h.ok() && h->exchange == ExchangeType::kIdentityProtection &&
               !(h->flags & flags::kEncryption) && p.data.size() > 200;
    bool qm2 = h.ok() && h->exchange == ExchangeType::kQuickMode;
    if ((mm4 && dropped == 0) || (qm2 && dropped == 1)) {
      ++dropped;
      return true;
    }
    return false;
  };
  Net::Client& c = f.Connect(Windows11Cfg());
  f.Run(absl::Seconds(10));
  EXPECT_EQ(dropped, 2);
  EXPECT_GE(f.net->server->counters().duplicates_retransmitted, 2u);
  EXPECT_GE(c.ike->counters().retransmits, 2u);
  ExpectMirrored(Only(f.net->server_sink), Only(c.sink));
}

TEST(Exchange, LostQuickMode3IsRecoveredByTheResponder) {
  Fixture f(ServerCfg(), false);
  int dropped = 0;
  f.net->drop = [&](const Packet& p) {
    auto h = ParseHeader(p.data);
    // The client's Quick Mode 3 is the small one (HDR + HASH(3)).
    if (p.to_server && dropped == 0 && h.ok() && h->exchange == ExchangeType::kQuickMode &&
        p.data.size() <= 80) {
      ++dropped;
      return true;
    }
    return false;
  };
  Net::Client& c = f.Connect(Windows11Cfg());
  EXPECT_EQ(c.sink.installed().size(), 1u);
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  f.Run(absl::Seconds(5));
  EXPECT_EQ(dropped, 1);
  EXPECT_GE(f.net->server->counters().retransmits, 1u);
  EXPECT_GE(c.ike->counters().duplicates_retransmitted, 1u);
  ExpectMirrored(Only(f.net->server_sink), Only(c.sink));
}

TEST(Exchange, HalfOpenLimitsBeforeAnyDhAndTimeout) {
  config::Ike server = ServerCfg();
  server.half_open_per_source = 3;
  server.half_open_total = 5;
  Fixture f(server, false);
  config::Ike w = Windows11Cfg();
  // Only message 1 gets through: every client stays half-open.
  f.net->drop = [](const Packet& p) { return !p.to_server; };
  auto start = [&](const Net::Client* same_address_as) {
    Net::Client& c = f.net->AddClient(w);
    if (same_address_as) c.local = same_address_as->local;
    ASSERT_TRUE(c.ike->Connect(c.local, f.net->server_ep).ok());
    f.net->Pump();
  };
  start(nullptr);
  const Net::Client* first = f.net->clients[0].get();
  start(first);
  start(first);
  EXPECT_EQ(f.net->server->ike_sa_count(), 3u);
  // Same source again: refused by the per-source limit, no SA, no DH.
  start(first);
  EXPECT_EQ(f.net->server->counters().half_open_limit_source, 1u);
  EXPECT_EQ(f.net->server->ike_sa_count(), 3u);
  // Other sources until the global limit (5).
  for (int i = 0; i < 4; ++i) start(nullptr);
  EXPECT_EQ(f.net->server->ike_sa_count(), 5u);
  EXPECT_EQ(f.net->server->counters().half_open_limit_total, 2u);
  // Half-open SAs time out and free their slots.
  f.timers.Advance(absl::Seconds(31));
  EXPECT_EQ(f.net->server->ike_sa_count(), 0u);
  EXPECT_EQ(f.net->server->counters().half_open_timeouts, 5u);
  // (The stalled clients' retransmissions are lost too.)
  f.net->drop = [](const Packet&) { return true; };
  f.net->Pump();
  f.net->drop = nullptr;
  f.Connect(w);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
}

TEST(Exchange, InvalidCookieRefused) {
  Fixture f(ServerCfg(), false);
  Header h;
  h.icookie = 1;
  h.rcookie = 2;
  h.exchange = ExchangeType::kIdentityProtection;
  Bytes msg = BuildPlainMessage(h, {Payload(PayloadType::kNonce, Bytes(16, 1))});
  f.net->InjectToServer({Ip("198.18.0.99"), 500}, msg);
  EXPECT_EQ(f.net->server->counters().rx_invalid_cookie, 1u);
  EXPECT_EQ(f.net->server->counters().notifies_sent, 1u);
}

TEST(Exchange, CommitBitGetsConnected) {
  Fixture f(ServerCfg(), false);
  InitiatorOptions o;
  o.commit = true;
  Net::Client& c = f.Connect(Windows11Cfg(), o);
  EXPECT_EQ(c.sink.installed().size(), 1u);
  EXPECT_EQ(c.ike->counters().notifies_received, 1u);  // CONNECTED
}

TEST(Exchange, QuickModeIdsMustBeL2tp) {
  Fixture f(ServerCfg(), false);
  InitiatorOptions o;
  o.qm_protocol = 6;
  o.qm_port = 80;
  Net::Client& c = f.Connect(Windows11Cfg(), o);
  EXPECT_EQ(f.net->server->counters().invalid_id, 1u);
  EXPECT_TRUE(f.net->server_sink.installed().empty());
  EXPECT_TRUE(c.sink.installed().empty());
  // Port 0 forms (Apple/Windows) are accepted.
  InitiatorOptions zero;
  zero.responder_port_zero = true;
  f.Connect(Windows11Cfg(), zero);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
}

TEST(Exchange, GarbageMidHandshakeDoesNotHurt) {
  Fixture f(ServerCfg(), true);
  std::mt19937 rng(7);
  int mutated = 0;
  // Deliver each client message, then mutated copies of it (late, corrupted
  // duplicates): none may crash the server or derail the exchange.
  f.net->drop = [&](const Packet& p) {
    if (!p.to_server) return false;
    f.net->server->OnDatagram(p.dst, p.src, p.data);
    for (int k = 0; k < 8 && mutated < 60; ++k) {
      Bytes b = p.data;
      b[rng() % b.size()] ^= 1u << (rng() % 8);
      if (rng() % 3 == 0) b.resize(rng() % b.size());
      ++mutated;
      f.net->server->OnDatagram(p.dst, p.src, b);
    }
    return true;
  };
  Net::Client& c = f.Connect(Windows11Cfg());
  f.Run(absl::Seconds(20));
  EXPECT_GT(mutated, 10);
  // Bit flips in the cookies or headers must not kill the real handshake;
  // the handshake still completes (possibly after a retransmission).
  EXPECT_EQ(c.sink.installed().size(), 1u);
  const Counters& k = f.net->server->counters();
  EXPECT_GT(k.rx_malformed + k.rx_invalid_cookie + k.rx_decrypt_failed + k.invalid_hash +
                k.payload_malformed + k.rx_unexpected + k.auth_failed + k.half_open_timeouts,
            0u);
}

// Random datagrams, many with the live SA's cookies and plausible headers:
// counted drops, no crash, no state change, and the SA still works.
TEST(Exchange, RandomDatagramsAgainstALiveSa) {
  Fixture f(ServerCfg(), true);
  Net::Client& c = f.Connect(Windows11Cfg());
  auto sa = f.net->server->ListIkeSas().at(0);
  std::mt19937 rng(99);
  const ExchangeType types[] = {ExchangeType::kIdentityProtection, ExchangeType::kInformational,
                                ExchangeType::kQuickMode, ExchangeType::kAggressive,
                                static_cast<ExchangeType>(rng() % 256)};
  for (int i = 0; i < 20000; ++i) {
    Header h;
    h.icookie = rng() % 4 ? sa.icookie : rng();
    h.rcookie = rng() % 4 ? sa.rcookie : (rng() % 2 ? 0 : rng());
    h.exchange = types[rng() % 5];
    h.flags = rng() % 8;
    h.message_id = rng() % 3 ? rng() : 0;
    h.next = static_cast<PayloadType>(rng() % 3 ? rng() % 14 : rng() % 256);
    Bytes body(rng() % 200);
    for (auto& b : body) b = rng();
    Bytes msg;
    EncodeHeader(h, msg);
    Append(msg, body);
    if (rng() % 10) SetU32(msg, 24, static_cast<uint32_t>(msg.size()));
    f.net->server->OnDatagram({Ip(Net::kServer), kNatTPort}, sa.remote, msg);
  }
  f.net->drop = [](const Packet& p) { return !p.to_server; };  // ignore the notifies
  f.net->Pump(100000);
  f.net->drop = nullptr;
  EXPECT_EQ(f.net->server->counters().ike_sa_established, 1u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 1u);
  EXPECT_TRUE(f.net->server_sink.removed().empty());
  // Still alive: a DPD round trip and a new Quick Mode work.
  ASSERT_TRUE(c.ike->SendDpd(c.ike->ListIkeSas().at(0).id).ok());
  ASSERT_TRUE(c.ike->StartQuickMode(c.ike->ListIkeSas().at(0).id).ok());
  f.net->Pump();
  EXPECT_EQ(c.ike->counters().dpd_acks_received, 1u);
  EXPECT_EQ(f.net->server_sink.installed().size(), 2u);
}

}  // namespace
}  // namespace vpn::ike::testing
