// LAC <-> LNS exchanges on a clean network: tunnel and session setup, PPP
// frames both ways, HELLO, StopCCN, CDN, tunnel authentication, hidden AVPs.
#include "exchange_harness.h"

namespace vpn::l2tp::testing {
namespace {

const Bytes kLcpConfReq = {0xC0, 0x21, 0x01, 0x01, 0x00, 0x0A,
                           0x05, 0x06, 0x12, 0x34, 0x56, 0x78};

TEST_F(ExchangeTest, TunnelAndSessionComeUp) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  // SCCRQ, SCCRP, SCCCN, then a ZLB acknowledging the SCCCN (5.8).
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kSccrq), 1);
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kSccrp), 1);
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kScccn), 1);
  EXPECT_EQ(net.Count(Dir::kToLac, 0), 1);
  ASSERT_EQ(lns->Tunnels().size(), 1u);
  TunnelView t = lns->Tunnels()[0];
  EXPECT_EQ(t.state, TunnelState::kEstablished);
  EXPECT_EQ(t.peer_id, lacs[c]->local_tunnel_id());
  EXPECT_EQ(t.local_id, lacs[c]->peer_tunnel_id());
  EXPECT_EQ(t.peer_hostname, "lac0");
  EXPECT_EQ(t.peer_vendor, "vpnconc-lac");
  EXPECT_EQ(t.binding.sa_index, ClientBinding(c).sa_index);
  EXPECT_FALSE(t.authenticated);
  EXPECT_EQ(LnsCounter("tunnels_established"), 1u);

  std::shared_ptr<EndpointLog> lac_log;
  uint16_t sid = OpenCall(c, &lac_log);
  EXPECT_EQ(lacs[c]->session_state(sid), LacSessionState::kEstablished);
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kIcrq), 1);
  EXPECT_EQ(net.Count(Dir::kToLac, MessageType::kIcrp), 1);
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kIccn), 1);
  ASSERT_EQ(lns_eps.size(), 1u);
  const cp::L2tpSessionInfo& info = lns_eps[0]->info;
  EXPECT_EQ(info.local_tunnel_id, t.local_id);
  EXPECT_EQ(info.peer_tunnel_id, lacs[c]->local_tunnel_id());
  EXPECT_EQ(info.peer_session_id, sid);
  EXPECT_EQ(info.local_session_id, lacs[c]->session_peer_id(sid));
  EXPECT_EQ(info.inbound_sa, ClientBinding(c).sa_index);
  EXPECT_EQ(info.peer_ip, ClientBinding(c).peer_ip);
  EXPECT_EQ(info.peer_port, htons(1701));
  EXPECT_EQ(info.peer_hostname, "lac0");
  EXPECT_FALSE(info.sequencing);
  ASSERT_EQ(lns->Sessions().size(), 1u);
  SessionView s = lns->Sessions()[0];
  EXPECT_EQ(s.state, SessionState::kEstablished);
  EXPECT_EQ(s.call_serial, 1u);
  EXPECT_EQ(s.tx_connect_bps, 100000000u);
  EXPECT_TRUE(s.has_endpoint);
  EXPECT_EQ(lns->session_count(), 1u);
}

TEST_F(ExchangeTest, PppFramesFlowBothWaysThroughLoopback) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> lac_log;
  uint16_t sid = OpenCall(c, &lac_log);
  ASSERT_NE(lac_log->link, nullptr);
  for (int i = 0; i < 5; ++i) {
    Bytes f = kLcpConfReq;
    f[3] = uint8_t(i);
    lac_log->link->SendPppFrame(f);
  }
  Run(absl::Seconds(1));
  ASSERT_EQ(lns_eps.size(), 1u);
  ASSERT_EQ(lns_eps[0]->frames.size(), 5u);
  ASSERT_EQ(lac_log->frames.size(), 5u);  // echoed back by the LNS endpoint
  for (int i = 0; i < 5; ++i) {
    Bytes f = kLcpConfReq;
    f[3] = uint8_t(i);
    EXPECT_EQ(lns_eps[0]->frames[i], f);
    EXPECT_EQ(lac_log->frames[i], f);
  }
  // Data went unsequenced, with FF03, addressed to the peer's ids.
  for (const Wire& w : net.log) {
    if (w.control) continue;
    EXPECT_FALSE(w.header.has_sequence);
    EXPECT_EQ(w.bytes[w.header.payload_offset], 0xFF);
    if (w.dir == Dir::kToLac) {
      EXPECT_EQ(w.header.tunnel_id, lacs[c]->local_tunnel_id());
      EXPECT_EQ(w.header.session_id, sid);
    }
  }
  SessionView v = lns->Sessions()[0];
  EXPECT_EQ(v.rx_packets, 5u);
  EXPECT_EQ(v.tx_packets, 5u);
  EXPECT_EQ(v.rx_bytes, 5 * kLcpConfReq.size());
  EXPECT_EQ(LnsCounter("rx_data"), 5u);
  EXPECT_EQ(LnsCounter("tx_data"), 5u);
}

TEST_F(ExchangeTest, SequencingRequiredMakesTheLnsNumberItsData) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> lac_log;
  LacCallOptions o;
  o.sequencing_required = true;
  OpenCall(c, &lac_log, o);
  ASSERT_EQ(lns_eps.size(), 1u);
  EXPECT_TRUE(lns_eps[0]->info.sequencing);
  EXPECT_TRUE(lns->Sessions()[0].sequencing);
  for (int i = 0; i < 3; ++i) lac_log->link->SendPppFrame(kLcpConfReq);
  Run(absl::Seconds(1));
  EXPECT_EQ(lac_log->frames.size(), 3u);
  std::vector<uint16_t> lns_ns;
  for (const Wire& w : net.log)
    if (!w.control && w.dir == Dir::kToLac) {
      EXPECT_TRUE(w.header.has_sequence);
      lns_ns.push_back(w.header.ns);
    }
  EXPECT_EQ(lns_ns, (std::vector<uint16_t>{0, 1, 2}));
  // A replayed (older) sequenced data message is dropped.
  const Wire* old = nullptr;
  for (const Wire& w : net.log)
    if (!w.control && w.dir == Dir::kToLns) { old = &w; break; }
  ASSERT_NE(old, nullptr);
  lns->OnDataMessage(ClientBinding(c), old->bytes);
  EXPECT_EQ(LnsCounter("drop_data_out_of_order"), 1u);
  EXPECT_EQ(lns_eps[0]->frames.size(), 3u);
}

TEST_F(ExchangeTest, DeliverPppFrameNormalizesAndChecksTheBinding) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  SessionView s = lns->Sessions()[0];
  lns_echo = false;
  lns->DeliverPppFrame(ClientBinding(c), s.local_tunnel_id, s.local_session_id,
                       Bytes{0xFF, 0x03, 0x21, 0x45, 0x00});  // PFC IPv4
  ASSERT_EQ(lns_eps[0]->frames.size(), 1u);
  EXPECT_EQ(lns_eps[0]->frames[0], (Bytes{0x00, 0x21, 0x45, 0x00}));
  PeerBinding other = ClientBinding(c);
  other.sa_index = 999;
  lns->DeliverPppFrame(other, s.local_tunnel_id, s.local_session_id, kLcpConfReq);
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 1u);
  lns->DeliverPppFrame(ClientBinding(c), s.local_tunnel_id, uint16_t(s.local_session_id + 1),
                       kLcpConfReq);
  EXPECT_EQ(LnsCounter("drop_unknown_session"), 1u);
  lns->DeliverPppFrame(ClientBinding(c), s.local_tunnel_id, s.local_session_id, Bytes{0xFF, 0x03});
  EXPECT_EQ(LnsCounter("drop_data_bad"), 1u);
  EXPECT_EQ(lns_eps[0]->frames.size(), 1u);
}

TEST_F(ExchangeTest, HelloKeepsAnIdleTunnelUp) {
  cfg.hello_interval_s = 30;
  StartLns();
  config::L2tp lc = cfg;
  lc.hello_interval_s = 0;  // only the LNS probes
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  Run(absl::Minutes(5));
  // One HELLO per 30 s of silence from the LAC (section 6.5), each
  // acknowledged by a ZLB, so nothing is retransmitted.
  int hellos = net.Count(Dir::kToLac, MessageType::kHello);
  EXPECT_GE(hellos, 9);
  EXPECT_LE(hellos, 10);
  EXPECT_EQ(uint64_t(hellos), LnsCounter("hellos_sent"));
  EXPECT_EQ(net.Count(Dir::kToLns, MessageType::kHello), 0);
  EXPECT_EQ(LnsCounter("retransmits"), 0u);
  EXPECT_EQ(lns->Tunnels()[0].state, TunnelState::kEstablished);
  EXPECT_EQ(lns->session_count(), 1u);
}

TEST_F(ExchangeTest, DataFromThePeerAlsoCountsAsActivity) {
  cfg.hello_interval_s = 30;
  StartLns();
  config::L2tp lc = cfg;
  lc.hello_interval_s = 0;
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  for (int i = 0; i < 15; ++i) {
    log->link->SendPppFrame(kLcpConfReq);
    Run(absl::Seconds(20));
  }
  EXPECT_EQ(LnsCounter("hellos_sent"), 0u);
}

TEST_F(ExchangeTest, BothSidesProbingStillWorks) {
  cfg.hello_interval_s = 30;
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  Run(absl::Minutes(5));
  EXPECT_GE(net.Count(Dir::kToLac, MessageType::kHello) +
                net.Count(Dir::kToLns, MessageType::kHello),
            9);
  EXPECT_EQ(LnsCounter("retransmits"), 0u);
  EXPECT_EQ(lacs[c]->counters().Get("retransmits"), 0u);
  EXPECT_EQ(lns->Tunnels()[0].state, TunnelState::kEstablished);
}

TEST_F(ExchangeTest, LacStopCcnTearsDownTunnelAndSessions) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  OpenCall(c, nullptr);
  OpenCall(c, nullptr);
  ASSERT_EQ(lns_eps.size(), 2u);
  lacs[c]->CloseTunnel("user hung up");
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("stopccn_received"), 1u);
  EXPECT_EQ(lns->session_count(), 0u);
  EXPECT_EQ(lns->tunnel_count(), 0u);
  for (auto& ep : lns_eps) {
    ASSERT_EQ(ep->link_down.size(), 1u);
    EXPECT_NE(ep->link_down[0].find("StopCCN"), std::string::npos);
  }
  // The LNS acknowledged the StopCCN and lingers, then forgets the tunnel.
  EXPECT_EQ(lns->Tunnels().size(), 1u);
  EXPECT_EQ(lns->Tunnels()[0].state, TunnelState::kClosing);
  EXPECT_EQ(lns->Tunnels()[0].last_result, stopccn::kGeneralClear);
  Run(absl::Seconds(40));
  EXPECT_TRUE(lns->Tunnels().empty());
  EXPECT_EQ(LnsCounter("tunnels_closed"), 1u);
  EXPECT_EQ(LnsCounter("sessions_closed"), 2u);
}

TEST_F(ExchangeTest, LnsCloseTunnelSendsStopCcn) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  uint16_t tid = lns->Tunnels()[0].local_id;
  EXPECT_TRUE(lns->CloseTunnel({.local_id = tid}, "operator").ok());
  EXPECT_FALSE(lns->CloseTunnel({.local_id = tid}, "again").ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kGeneralClear);
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kClosing);
  EXPECT_EQ(LnsCounter("retransmits"), 0u);  // the LAC acknowledged it
}

TEST_F(ExchangeTest, CdnEitherWayEndsOnlyThatSession) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> a, b;
  uint16_t sa = OpenCall(c, &a);
  uint16_t sb = OpenCall(c, &b);
  ASSERT_EQ(lns_eps.size(), 2u);
  ASSERT_TRUE(lacs[c]->CloseSession(sa, "bye").ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("cdn_received"), 1u);
  EXPECT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_TRUE(lns_eps[1]->link_down.empty());
  EXPECT_EQ(lns->session_count(), 1u);

  SessionView v = lns->Sessions()[0];
  ASSERT_TRUE(lns->CloseSession(v.local_tunnel_id, v.local_session_id, "admin").ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[c]->session_state(sb), LacSessionState::kDead);
  EXPECT_EQ(lacs[c]->cdn_result(sb), cdn::kAdministrative);
  EXPECT_EQ(b->link_down.size(), 1u);
  EXPECT_EQ(lns_eps[1]->link_down.size(), 1u);
  EXPECT_EQ(lns->tunnel_count(), 1u);  // the tunnel stays
}

TEST_F(ExchangeTest, PppClosingTheLinkSendsCdnAndLinkDownFollowsLater) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  uint16_t sid = OpenCall(c, nullptr);
  ASSERT_NE(lns_eps[0]->link, nullptr);
  lns_eps[0]->link->ClosePppLink("authentication failed");
  // The CDN is out at once; the endpoint hears OnLinkDown from a fresh
  // stack, not inside its own ClosePppLink call.
  EXPECT_TRUE(lns_eps[0]->link_down.empty());
  EXPECT_EQ(lns->session_count(), 0u);
  Run(absl::Seconds(1));
  EXPECT_EQ(lns_eps[0]->link_down.size(), 1u);
  EXPECT_EQ(lacs[c]->session_state(sid), LacSessionState::kDead);
  EXPECT_EQ(lacs[c]->cdn_result(sid), cdn::kAdministrative);
}

TEST_F(ExchangeTest, FactoryRefusalClosesTheCall) {
  refuse_endpoints = true;
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  uint16_t sid = OpenCall(c, nullptr);
  EXPECT_EQ(lacs[c]->session_state(sid), LacSessionState::kDead);
  EXPECT_EQ(lacs[c]->cdn_result(sid), cdn::kNoFacilitiesTemporary);
  EXPECT_EQ(LnsCounter("no_ppp_endpoint"), 1u);
}

TEST_F(ExchangeTest, WanErrorNotifyAndSetLinkInfo) {
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  uint16_t sid = OpenCall(c, nullptr);
  const uint32_t errors[6] = {1, 2, 3, 4, 5, 6};
  ASSERT_TRUE(lacs[c]->SendWanErrorNotify(sid, errors).ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("wen_received"), 1u);
  EXPECT_EQ(lns->Sessions()[0].wan_errors, 21u);
  SessionView v = lns->Sessions()[0];
  ASSERT_TRUE(lns->SetLinkInfo(v.local_tunnel_id, v.local_session_id, 0xA0000, 0).ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[c]->sli_send_accm(sid), 0xA0000u);
}

TEST_F(ExchangeTest, TunnelAuthenticationWithTheRightSecret) {
  cfg.tunnel_secret = "s3cret";
  StartLns();
  int c = AddClient();
  ASSERT_TRUE(BringUp(c));
  EXPECT_TRUE(lacs[c]->authenticated());
  EXPECT_TRUE(lns->Tunnels()[0].authenticated);
  EXPECT_EQ(LnsCounter("auth_failures"), 0u);
}

TEST_F(ExchangeTest, LacRejectsAnLnsWithTheWrongSecret) {
  cfg.tunnel_secret = "lns-secret";
  StartLns();
  config::L2tp lc = cfg;
  lc.tunnel_secret = "lac-secret";
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[c]->tunnel_state(), LacTunnelState::kClosing);
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kNotAuthorized);
  EXPECT_EQ(lacs[c]->counters().Get("auth_failures"), 1u);
  EXPECT_EQ(LnsCounter("stopccn_received"), 1u);
  EXPECT_EQ(LnsCounter("tunnels_established"), 0u);
}

TEST_F(ExchangeTest, LnsRejectsALacWithTheWrongSecret) {
  cfg.tunnel_secret = "lns-secret";
  StartLns();
  config::L2tp lc = cfg;
  lc.tunnel_secret = "lac-secret";
  LacOptions o;
  o.skip_auth_check = true;  // let the LAC carry on to SCCCN
  int c = AddClient(ClientBinding(0), lc, o);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("auth_failures"), 1u);
  EXPECT_EQ(LnsCounter("tunnels_established"), 0u);
  const Wire* stop = net.Last(Dir::kToLac, MessageType::kStopCcn);
  ASSERT_NE(stop, nullptr);
  EXPECT_EQ(Net::ResultOf(*stop).first, stopccn::kNotAuthorized);
  EXPECT_TRUE(lacs[c]->stop_received());
}

TEST_F(ExchangeTest, ChallengeWithoutAnLnsSecretIsRefused) {
  StartLns();  // no secret
  config::L2tp lc = cfg;
  lc.tunnel_secret = "lac-secret";
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kNotAuthorized);
  EXPECT_TRUE(lns->Tunnels().empty());  // refused without keeping state
}

TEST_F(ExchangeTest, LacWithoutSecretCannotAnswerTheLnsChallenge) {
  cfg.tunnel_secret = "lns-secret";
  StartLns();
  config::L2tp lc = cfg;
  lc.tunnel_secret = "";
  int c = AddClient(ClientBinding(0), lc);
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[c]->counters().Get("auth_failures"), 1u);
  EXPECT_EQ(LnsCounter("tunnels_established"), 0u);
}

TEST_F(ExchangeTest, HiddenAvpsBothWays) {
  cfg.tunnel_secret = "hide-me";
  LnsOptions lo;
  lo.hide_avps = true;
  StartLns(lo);
  LacOptions o;
  o.hide_avps = true;
  int c = AddClient(o);
  ASSERT_TRUE(BringUp(c));
  std::shared_ptr<EndpointLog> log;
  OpenCall(c, &log);
  ASSERT_EQ(lns_eps.size(), 1u);
  EXPECT_EQ(lns_eps[0]->info.peer_session_id, log->info.local_session_id);
  // The ids really travelled hidden: a parser without the secret cannot
  // read the Assigned Tunnel ID of the SCCRQ or SCCRP.
  for (MessageType t : {MessageType::kSccrq, MessageType::kSccrp}) {
    const Wire* w = net.Last(t == MessageType::kSccrq ? Dir::kToLns : Dir::kToLac, t);
    ASSERT_NE(w, nullptr);
    ControlMessage m;
    ASSERT_EQ(ParseControlMessage(w->bytes, "", &m), ParseStatus::kOk);
    EXPECT_FALSE(m.Has(AvpType::kAssignedTunnelId));
    ASSERT_EQ(ParseControlMessage(w->bytes, "hide-me", &m), ParseStatus::kOk);
    EXPECT_TRUE(m.Has(AvpType::kAssignedTunnelId));
  }
}

}  // namespace
}  // namespace vpn::l2tp::testing
