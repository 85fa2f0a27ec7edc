// LAC <-> LNS exchanges with a hostile network and hostile peers: loss,
// duplication and reordering (RFC 2661 section 5.8), peer silence, setup
// timeouts, IPsec SA loss and rekey, binding violations, cleartext, NAT,
// limits, unknown AVPs and message types (section 4.1), OCRQ refusal.
#include <random>

#include "exchange_harness.h"

namespace vpn::l2tp::testing {
namespace {

const Bytes kFrame = {0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0};

Net::Fate DropFirst(const Wire& w, Dir d, MessageType t, int* left) {
  if (w.dir == d && w.control && !w.zlb && w.type == uint16_t(t) && *left > 0) {
    --*left;
    return Net::Fate::kDrop;
  }
  return Net::Fate::kDeliver;
}

TEST_F(ExchangeTest, LostSccrpIsRetransmitted) {
  StartLns();
  int c = AddClient();
  int left = 1;
  net.fate = [&](const Wire& w) { return DropFirst(w, Dir::kToLac, MessageType::kSccrp, &left); };
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(3));
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kEstablished);
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kSccrp), 2);
  EXPECT_EQ(LnsCounter("retransmits"), 1u);
  // The LAC retransmitted its SCCRQ too; the LNS matched it to the same
  // tunnel by (SA, address, peer tunnel id) instead of opening a second.
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kSccrq), 2);
  EXPECT_EQ(LnsCounter("tunnels_created"), 1u);
  EXPECT_GE(LnsCounter("drop_duplicate"), 1u);
}

TEST_F(ExchangeTest, SurvivesRandomLossOfControlMessages) {
  StartLns();
  int c = AddClient();
  std::mt19937 rng(1234);
  net.fate = [&](const Wire& w) {
    if (w.control && std::uniform_int_distribution<int>(0, 9)(rng) < 3)
      return Net::Fate::kDrop;
    return Net::Fate::kDeliver;
  };
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(20));
  ASSERT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kEstablished);
  std::shared_ptr<EndpointLog> log;
  uint16_t sid = OpenCall(c, &log);
  Run(absl::Seconds(30));
  EXPECT_EQ(lacs[c]->session_state(sid), LacSessionState::kEstablished);
  ASSERT_EQ(lns->session_count(), 1u);
  EXPECT_EQ(lns->Sessions()[0].state, SessionState::kEstablished);
  EXPECT_GT(LnsCounter("retransmits") + lacs[c]->counters().Get("retransmits"), 0u);
  EXPECT_EQ(LnsCounter("tunnels_created"), 1u);
  EXPECT_EQ(LnsCounter("sessions_created"), 1u);
}

TEST_F(ExchangeTest, DuplicatedMessagesAreReacknowledgedNotReprocessed) {
  StartLns();
  int c = AddClient();
  net.fate = [](const Wire& w) {
    return w.control ? Net::Fate::kDuplicate : Net::Fate::kDeliver;
  };
  ASSERT_TRUE(BringUp(c));
  uint16_t sid = OpenCall(c, nullptr);
  EXPECT_EQ(lacs[c]->session_state(sid), LacSessionState::kEstablished);
  EXPECT_EQ(LnsCounter("tunnels_created"), 1u);
  EXPECT_EQ(LnsCounter("sessions_created"), 1u);
  EXPECT_EQ(lns_eps.size(), 1u);
  EXPECT_GE(LnsCounter("drop_duplicate"), 3u);
  EXPECT_EQ(LnsCounter("fsm_errors"), 0u);
}

TEST_F(ExchangeTest, ReorderedMessagesAreQueuedUntilTheGapFills) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  int delayed = 0;
  net.fate = [&](const Wire& w) {
    if (w.dir == Dir::kToLns && w.type == uint16_t(MessageType::kIcrq) && delayed++ == 0)
      return Net::Fate::kDelay;  // the first ICRQ arrives after the second
    return Net::Fate::kDeliver;
  };
  auto factory = [](cp::PppLink& link, const cp::L2tpSessionInfo&)
      -> std::unique_ptr<cp::PppEndpoint> {
    return std::make_unique<LoopbackEndpoint>(link, std::make_shared<EndpointLog>(), false);
  };
  auto a = lacs[c]->OpenSession(factory);
  auto b = lacs[c]->OpenSession(factory);
  ASSERT_TRUE(a.ok() && b.ok());
  Run(absl::Seconds(2));
  EXPECT_EQ(LnsCounter("queued_out_of_order"), 1u);
  EXPECT_EQ(lacs[c]->session_state(*a), LacSessionState::kEstablished);
  EXPECT_EQ(lacs[c]->session_state(*b), LacSessionState::kEstablished);
  ASSERT_EQ(lns->Sessions().size(), 2u);
  // Delivered in Ns order: call serial 1 was handled (and answered) first.
  const Wire* first_icrp = nullptr;
  for (const Wire& w : net.log)
    if (w.dir == Dir::kToLac && w.type == uint16_t(MessageType::kIcrp)) {
      first_icrp = &w;
      break;
    }
  ASSERT_NE(first_icrp, nullptr);
  EXPECT_EQ(first_icrp->header.session_id, *a);
}

TEST_F(ExchangeTest, SilentPeerIsGivenUpAfterBackoff) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  ASSERT_EQ(lns_eps.size(), 1u);
  net.fate = [](const Wire& w) {
    return w.dir == Dir::kToLns ? Net::Fate::kDrop : Net::Fate::kDeliver;
  };
  const absl::Time silent_from = timers.Now();
  Run(absl::Seconds(60 + 30));  // HELLO at ~60 s, then 1+2+4+8+8 s of retries
  ASSERT_EQ(lns->tunnel_count(), 1u);
  std::vector<double> at;
  for (const Wire& w : net.log)
    if (w.dir == Dir::kToLac && w.type == uint16_t(MessageType::kHello))
      at.push_back(absl::ToDoubleSeconds(w.when - silent_from));
  ASSERT_EQ(at.size(), 6u);  // first transmission + retransmit_count (5)
  const double gaps[] = {1, 2, 4, 8, 8};  // doubling, capped at 8 s
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(at[i + 1] - at[i], gaps[i], 0.001) << i;
  Run(absl::Seconds(2));  // 8 s after the last retransmission: give up
  EXPECT_EQ(lns->tunnel_count(), 0u);
  EXPECT_TRUE(lns->Tunnels().empty());  // removed without lingering
  EXPECT_EQ(LnsCounter("tunnel_timeouts"), 1u);
  ASSERT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_NE(lns_eps[0]->link_down[0].find("not responding"), std::string::npos);
}

TEST_F(ExchangeTest, TunnelWithoutScccnTimesOut) {
  StartLns();
  int c = AddClient();
  net.fate = [](const Wire& w) {
    return w.type == uint16_t(MessageType::kScccn) ? Net::Fate::kDrop
                                                   : Net::Fate::kDeliver;
  };
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(59));
  EXPECT_EQ(lns->tunnel_count(), 1u);
  Run(absl::Seconds(2));
  EXPECT_EQ(LnsCounter("setup_timeouts"), 1u);
  EXPECT_EQ(lns->tunnel_count(), 0u);
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kStopCcn), 1);
}

TEST_F(ExchangeTest, SessionWithoutIccnTimesOut) {
  StartLns();
  config::L2tp lc = cfg;
  lc.retransmit_count = 1000;  // keep the LAC's tunnel alive meanwhile
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(BringUp(c));
  net.fate = [](const Wire& w) {
    return w.type == uint16_t(MessageType::kIccn) ? Net::Fate::kDrop
                                                  : Net::Fate::kDeliver;
  };
  OpenCall(c, nullptr);
  EXPECT_EQ(lns->session_count(), 1u);
  Run(absl::Seconds(60));
  EXPECT_EQ(LnsCounter("setup_timeouts"), 1u);
  EXPECT_EQ(lns->session_count(), 0u);
  const Wire* cdn = net.Last(Dir::kToLac, MessageType::kCdn);
  ASSERT_NE(cdn, nullptr);
  EXPECT_EQ(Net::ResultOf(*cdn).first, cdn::kTimeout);
}

TEST_F(ExchangeTest, SaDeletionTearsDownOnlyThatClientSilently) {
  StartLns();
  int a = AddClient(), b = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  OpenCall(a, nullptr);
  OpenCall(b, nullptr);
  ASSERT_EQ(lns_eps.size(), 2u);
  const size_t sent_before = net.log.size();
  lns->OnSaDeleted(ClientBinding(a).sa_index);
  EXPECT_EQ(net.log.size(), sent_before);  // no StopCCN into a dead SA
  EXPECT_EQ(lns->tunnel_count(), 1u);
  ASSERT_EQ(lns->Tunnels().size(), 1u);
  EXPECT_EQ(lns->Tunnels()[0].binding.sa_index, ClientBinding(b).sa_index);
  ASSERT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_EQ(lns_eps[0]->link_down[0], "IPsec SA deleted");
  EXPECT_TRUE(lns_eps[1]->link_down.empty());
  EXPECT_EQ(LnsCounter("sa_teardowns"), 1u);
  lns->OnSaDeleted(12345);  // unknown SA: nothing happens
  EXPECT_EQ(lns->tunnel_count(), 1u);
}

TEST_F(ExchangeTest, RekeyMovesTheTunnelToTheNewSa) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  const PeerBinding old_b = ClientBinding(c);
  lns->RebindSa(old_b.sa_index, 555);
  net.clients[c].seen_by_lns.sa_index = 555;  // the client moved too
  EXPECT_EQ(lns->Tunnels()[0].binding.sa_index, 555u);
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  ASSERT_EQ(lns_eps[0]->frames.size(), 1u);
  EXPECT_EQ(log->frames.size(), 1u);  // the echo went out through the new SA
  const Wire* data = nullptr;
  for (const Wire& w : net.log)
    if (w.dir == Dir::kToLns && !w.control) data = &w;
  ASSERT_NE(data, nullptr);
  const Bytes late = data->bytes;
  // Until the old SA is deleted, traffic still in flight on it is accepted.
  lns->OnDataMessage(old_b, late);
  EXPECT_EQ(lns_eps[0]->frames.size(), 2u);
  lns->OnSaDeleted(old_b.sa_index);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(LnsCounter("sa_rebinds"), 1u);
  EXPECT_EQ(LnsCounter("sa_teardowns"), 0u);
  lns->OnDataMessage(old_b, late);
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 1u);
  lns->OnSaDeleted(555);
  EXPECT_EQ(lns->tunnel_count(), 0u);
  EXPECT_EQ(lns_eps[0]->link_down.size(), 1u);
}

// Quick Mode rekey between message 2 (our inbound SA of the new pair is
// live) and message 3 (its outbound half): strongSwan and Windows send
// through the new pair as soon as they have message 2, L2TP control included.
TEST_F(ExchangeTest, ControlOnTheRekeysPendingSaIsAcceptedBeforeQuickMode3) {
  StartLns();
  int c = AddClient(), other = AddClient();
  ASSERT_TRUE(BringUp(c));
  ASSERT_TRUE(BringUp(other));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  const PeerBinding old_b = ClientBinding(c);
  lns->AcceptAlsoOn(old_b.sa_index, 555);       // Quick Mode 2 sent
  net.clients[c].seen_by_lns.sa_index = 555;    // the client moved at once
  net.clients[c].also_receives_on = old_b.sa_index;  // and still decrypts the old one
  // Replies keep using the current SA: the pending one cannot send yet.
  EXPECT_EQ(TunnelOf(c).binding.sa_index, old_b.sa_index);
  // A new call (ICRQ, ICCN through the pending SA) comes up without a
  // single retransmission, and so does data.
  const int icrq_before = net.Count(Dir::kToLns, MessageType::kIcrq, c);
  std::shared_ptr<EndpointLog> log2;
  OpenCall(c, &log2);
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kIcrq, c), icrq_before + 1);
  EXPECT_EQ(lns->session_count(), 2u);
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_EQ(lns_eps[0]->frames.size(), 1u);
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 0u);
  // Another client's tunnel does not take the pending SA.
  net.clients[other].seen_by_lns.sa_index = 555;
  OpenCall(other, nullptr);
  EXPECT_EQ(lns->session_count(), 2u);
  EXPECT_GT(LnsCounter("drop_binding_mismatch"), 0u);
  net.clients[other].seen_by_lns = ClientBinding(other);
  // Quick Mode 3: the pending SA becomes the binding, the old one stays
  // accepted until it is deleted.
  lns->RebindSa(old_b.sa_index, 555);
  EXPECT_EQ(TunnelOf(c).binding.sa_index, 555u);
  lns->OnSaDeleted(old_b.sa_index);
  EXPECT_EQ(lns->tunnel_count(), 2u);
  EXPECT_EQ(LnsCounter("sa_teardowns"), 0u);
}

TEST_F(ExchangeTest, PendingSaWhoseQuickMode3NeverCameIsForgotten) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  const PeerBinding old_b = ClientBinding(c);
  lns->AcceptAlsoOn(old_b.sa_index, 556);
  lns->OnSaDeleted(556);                      // message 3 never came
  EXPECT_EQ(lns->tunnel_count(), 1u);         // the tunnel lives on the old SA
  EXPECT_EQ(LnsCounter("sa_teardowns"), 0u);
  net.clients[c].seen_by_lns.sa_index = 556;  // whatever still comes on it
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_TRUE(lns_eps[0]->frames.empty());
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 1u);
  net.clients[c].seen_by_lns = old_b;
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_EQ(lns_eps[0]->frames.size(), 1u);
}

TEST_F(ExchangeTest, MessagesFromAnotherSaOrAddressAreRefused) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  log->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  const Wire *ctl = net.Last(Dir::kToLns, MessageType::kIccn), *data = nullptr;
  for (const Wire& w : net.log)
    if (w.dir == Dir::kToLns && !w.control) data = &w;
  ASSERT_TRUE(ctl && data);
  const size_t sent_before = net.log.size();
  PeerBinding other_sa = ClientBinding(c), other_ip = ClientBinding(c),
              other_port = ClientBinding(c);
  other_sa.sa_index = 777;
  other_ip.peer_ip ^= htonl(1);
  other_port.peer_port = 4242;
  for (const PeerBinding& b : {other_sa, other_ip, other_port}) {
    lns->OnControlMessage(b, ctl->bytes);
    lns->OnDataMessage(b, data->bytes);
  }
  // Our tunnel id is unique per peer address only (id_allocator.h): from
  // another address or port the id names no tunnel at all; from the right
  // address through another SA it finds the tunnel, whose SA differs.
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 2u);
  EXPECT_EQ(LnsCounter("drop_unknown_tunnel"), 4u);
  EXPECT_EQ(net.log.size(), sent_before);  // not even acknowledged
  EXPECT_EQ(lns_eps[0]->frames.size(), 1u);
  EXPECT_EQ(lns->session_count(), 1u);
}

PeerBinding Clear() {
  PeerBinding b = ExchangeTest::ClientBinding(0);
  b.sa_index = kNoSa;
  return b;
}

TEST_F(ExchangeTest, CleartextIsRefusedByDefault) {
  StartLns();
  int c = AddClient(Clear(), cfg);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(40));
  EXPECT_EQ(LnsCounter("drop_cleartext"), 6u);  // SCCRQ and 5 retransmissions
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kSccrp), 0);
  EXPECT_TRUE(lns->Tunnels().empty());
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kDead);
}

TEST_F(ExchangeTest, CleartextWorksWhenAllowed) {
  LnsOptions allow;
  allow.allow_cleartext = true;
  StartLns(allow);
  int c = AddClient(Clear(), cfg);
  ASSERT_TRUE(BringUp(c));
  EXPECT_TRUE(lns->Tunnels()[0].binding.cleartext());
  OpenCall(c, nullptr);
  EXPECT_EQ(lns_eps.size(), 1u);
  EXPECT_EQ(lns_eps[0]->info.inbound_sa, kNoSa);
}

TEST_F(ExchangeTest, ClientsBehindOneNatWithTheSameTunnelIdAreDistinct) {
  StartLns();
  LacOptions o;
  o.tunnel_id = 42;
  PeerBinding b0 = ClientBinding(0), b1 = ClientBinding(0);
  b1.sa_index = 101;  // same public address and port, another SA
  config::L2tp lc = cfg;
  int a = AddClient(b0, lc, o), b = AddClient(b1, lc, o);
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  ASSERT_EQ(lns->tunnel_count(), 2u);
  EXPECT_NE(lns->Tunnels()[0].local_id, lns->Tunnels()[1].local_id);
  std::shared_ptr<EndpointLog> la, lb;
  OpenCall(a, &la);
  OpenCall(b, &lb);
  Bytes fa = kFrame, fb = kFrame;
  fa[3] = 0xAA;
  fb[3] = 0xBB;
  la->link->SendPppFrame(fa);
  lb->link->SendPppFrame(fb);
  Run(absl::Seconds(1));
  ASSERT_EQ(la->frames.size(), 1u);
  ASSERT_EQ(lb->frames.size(), 1u);
  EXPECT_EQ(la->frames[0], fa);
  EXPECT_EQ(lb->frames[0], fb);
  lns->OnSaDeleted(101);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lns->Tunnels()[0].binding.sa_index, 100u);
}

TEST_F(ExchangeTest, TunnelsPerClientLimit) {
  cfg.max_tunnels_per_client = 2;
  StartLns();
  int c0 = AddClient(ClientBinding(0), cfg), c1 = AddClient(ClientBinding(0), cfg),
      c2 = AddClient(ClientBinding(0), cfg), other = AddClient(ClientBinding(5), cfg);
  ASSERT_TRUE(BringUp(c0));
  ASSERT_TRUE(BringUp(c1));
  ASSERT_TRUE(lacs[c2]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c2]->stop_received());
  EXPECT_EQ(lacs[c2]->stop_result(), stopccn::kGeneralError);
  EXPECT_EQ(lacs[c2]->stop_error(), errcode::kNoResources);
  EXPECT_EQ(LnsCounter("tunnels_refused_limit"), 1u);
  ASSERT_TRUE(BringUp(other));  // another SA is another client
  EXPECT_EQ(lns->tunnel_count(), 3u);
}

TEST_F(ExchangeTest, SessionsPerTunnelLimit) {
  cfg.max_sessions_per_tunnel = 2;
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  OpenCall(c, nullptr);
  uint16_t third = OpenCall(c, nullptr);
  EXPECT_EQ(lacs[c]->session_state(third), LacSessionState::kDead);
  EXPECT_EQ(lacs[c]->cdn_result(third), cdn::kNoFacilitiesTemporary);
  EXPECT_EQ(LnsCounter("sessions_refused_limit"), 1u);
  EXPECT_EQ(lns->session_count(), 2u);
}

ExtraAvp Unknown(bool mandatory) { return ExtraAvp{mandatory, 0, 300, Bytes{1, 2}}; }

TEST_F(ExchangeTest, UnknownMandatoryAvpInSccrqRefusesTheTunnel) {
  StartLns();
  LacOptions o;
  o.extra_sccrq_avps = {Unknown(true)};
  int c = AddClient(o);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kGeneralError);
  EXPECT_EQ(lacs[c]->stop_error(), errcode::kUnknownMandatoryAvp);
  EXPECT_EQ(LnsCounter("unknown_mandatory"), 1u);
  EXPECT_TRUE(lns->Tunnels().empty());
}

TEST_F(ExchangeTest, UnknownOptionalAvpsAreIgnored) {
  StartLns();
  LacOptions o;
  o.extra_sccrq_avps = {Unknown(false), ExtraAvp{false, 311, 1, Bytes{9}}};
  int c = AddClient(o);
  ASSERT_TRUE(BringUp(c));
  EXPECT_EQ(LnsCounter("ignored_avps"), 2u);
}

TEST_F(ExchangeTest, UnknownMandatoryAvpInScccnClearsTheTunnel) {
  StartLns();
  LacOptions o;
  o.extra_scccn_avps = {Unknown(true)};
  int c = AddClient(o);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_error(), errcode::kUnknownMandatoryAvp);
  EXPECT_EQ(LnsCounter("tunnels_established"), 0u);
}

TEST_F(ExchangeTest, UnknownMandatoryAvpInACallMessageEndsOnlyTheCall) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  LacCallOptions in_icrq, in_iccn;
  in_icrq.extra_icrq_avps = {Unknown(true)};
  in_iccn.extra_iccn_avps = {Unknown(true)};
  uint16_t s1 = OpenCall(c, nullptr, in_icrq);
  uint16_t s2 = OpenCall(c, nullptr, in_iccn);
  for (uint16_t s : {s1, s2}) {
    EXPECT_EQ(lacs[c]->session_state(s), LacSessionState::kDead);
    EXPECT_EQ(lacs[c]->cdn_result(s), cdn::kGeneralError);
  }
  EXPECT_EQ(LnsCounter("unknown_mandatory"), 2u);
  EXPECT_EQ(lns->session_count(), 0u);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kEstablished);
}

TEST_F(ExchangeTest, UnknownMessageTypeIgnoredOrFatalByItsMBit) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  ASSERT_TRUE(lacs[c]->SendCustom(50, false, 0, {}).ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("ignored_messages"), 1u);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lacs[c]->counters().Get("retransmits"), 0u);  // it was acked
  ASSERT_TRUE(lacs[c]->SendCustom(51, true, 0, {}).ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_error(), errcode::kUnknownMandatoryAvp);
}

TEST_F(ExchangeTest, OutgoingCallRequestIsRefusedPermanently) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  auto u16 = [](uint16_t v) { return Bytes{uint8_t(v >> 8), uint8_t(v)}; };
  auto u32 = [](uint32_t v) {
    return Bytes{uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
  };
  std::vector<ExtraAvp> ocrq = {
      {true, 0, 14, u16(77)},  {true, 0, 15, u32(1)}, {true, 0, 16, u32(9600)},
      {true, 0, 17, u32(64000)}, {true, 0, 18, u32(2)}, {true, 0, 19, u32(1)},
      {true, 0, 21, Bytes{'5', '5', '5'}}};
  ASSERT_TRUE(lacs[c]->SendCustom(uint16_t(MessageType::kOcrq), true, 0, ocrq).ok());
  Run(absl::Seconds(1));
  const Wire* cdn = net.Last(Dir::kToLac, MessageType::kCdn);
  ASSERT_NE(cdn, nullptr);
  EXPECT_EQ(cdn->header.session_id, 77);
  EXPECT_EQ(Net::ResultOf(*cdn).first, cdn::kNoFacilitiesPermanent);
  EXPECT_EQ(LnsCounter("sessions_refused"), 1u);
  EXPECT_EQ(lns->tunnel_count(), 1u);
}

TEST_F(ExchangeTest, IcrqMissingARequiredAvpIsRefused) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::vector<ExtraAvp> icrq = {{true, 0, 14, Bytes{0, 88}}};  // no serial
  ASSERT_TRUE(lacs[c]->SendCustom(uint16_t(MessageType::kIcrq), true, 0, icrq).ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("missing_avp"), 1u);
  const Wire* cdn = net.Last(Dir::kToLac, MessageType::kCdn);
  ASSERT_NE(cdn, nullptr);
  EXPECT_EQ(cdn->header.session_id, 88);
  EXPECT_EQ(lns->session_count(), 0u);
}

TEST_F(ExchangeTest, SccrqInsideAnEstablishedTunnelIsAnFsmError) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::vector<ExtraAvp> sccrq = {{true, 0, 2, Bytes{1, 0}},
                                 {true, 0, 3, Bytes{0, 0, 0, 3}},
                                 {true, 0, 7, Bytes{'x'}},
                                 {true, 0, 9, Bytes{0, 9}}};
  ASSERT_TRUE(lacs[c]->SendCustom(uint16_t(MessageType::kSccrq), true, 0, sccrq).ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("fsm_errors"), 1u);
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kFsmError);
}

TEST_F(ExchangeTest, RestartedClientReusingItsIdsReplacesTheOldTunnel) {
  StartLns();
  LacOptions o;
  o.tunnel_id = 1;  // clients often start from the same id
  int c = AddClient(ClientBinding(0), cfg, o);
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  // A retransmitted/duplicated SCCRQ right after setup is only re-acked.
  const Wire* sccrq = net.Last(Dir::kToLns, MessageType::kSccrq);
  ASSERT_NE(sccrq, nullptr);
  lns->OnControlMessage(ClientBinding(0), sccrq->bytes);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lns->session_count(), 1u);
  Run(absl::Seconds(20));
  // The client process restarts, same SA, same tunnel id.
  net.clients[c].lac = nullptr;
  int again = AddClient(ClientBinding(0), cfg, o);
  ASSERT_TRUE(BringUp(again));
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(lns->session_count(), 0u);
  ASSERT_EQ(lns_eps.size(), 1u);
  EXPECT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_EQ(LnsCounter("tunnels_created"), 2u);
}

TEST_F(ExchangeTest, CallAbandonedBeforeIcrpArrivesIsFound) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  int left = 1;
  net.fate = [&](const Wire& w) { return DropFirst(w, Dir::kToLac, MessageType::kIcrp, &left); };
  auto sid = lacs[c]->OpenSession(nullptr);
  ASSERT_TRUE(sid.ok());
  Run(absl::Milliseconds(100));
  EXPECT_EQ(lns->session_count(), 1u);
  ASSERT_TRUE(lacs[c]->CloseSession(*sid, "changed my mind").ok());
  Run(absl::Seconds(5));
  const Wire* cdn = net.Last(Dir::kToLns, MessageType::kCdn);
  ASSERT_NE(cdn, nullptr);
  EXPECT_EQ(cdn->header.session_id, 0);
  EXPECT_EQ(LnsCounter("cdn_received"), 1u);
  EXPECT_EQ(lns->session_count(), 0u);
}

TEST_F(ExchangeTest, LacReconnectsFromItsTunnelDownCallback) {
  StartLns();
  int c = AddClient();
  bool blackhole = true;
  net.fate = [&](const Wire&) { return blackhole ? Net::Fate::kDrop : Net::Fate::kDeliver; };
  int downs = 0;
  lacs[c]->on_tunnel_down = [&](std::string_view) {
    if (++downs == 1) {
      blackhole = false;
      EXPECT_TRUE(lacs[c]->OpenTunnel().ok());  // inside the channel's give-up
    }
  };
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(35));
  EXPECT_EQ(downs, 1);
  EXPECT_EQ(lacs[c]->counters().Get("tunnel_timeouts"), 1u);
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kEstablished);
  EXPECT_EQ(lns->tunnel_count(), 1u);
}

}  // namespace
}  // namespace vpn::l2tp::testing
