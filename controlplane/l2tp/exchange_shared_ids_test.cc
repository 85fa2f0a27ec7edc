// Our tunnel ids repeat across peers (id_allocator.h): more than 65535
// clients, each with its own tunnel (RFC 2661), on one LNS. Peers forced onto
// the same tunnel id through LnsOptions::tunnel_id_source must each get their
// own control exchanges and data, and nothing one of them sends (StopCCN,
// CDN, data naming the other's session) may touch the other.
#include <set>

#include "data_message.h"
#include "exchange_harness.h"

namespace vpn::l2tp::testing {
// Named so that the unity build (test_unity in meson.build) keeps this
// file's helpers apart from its neighbours'.
namespace exchange_shared_ids_test {
namespace {

const Bytes kFrame = {0xC0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0};
constexpr uint16_t kSharedTid = 7;
constexpr uint16_t kForcedSid = 5;

class SharedIdsTest : public ExchangeTest {
 protected:
  // Every tunnel id proposed is 7, every session id 5: the allocator must
  // still keep 7 unique per peer and (7, session id) unique overall.
  void StartForced(LnsOptions o = {}) {
    o.tunnel_id_source = [] { return kSharedTid; };
    o.session_id_source = [] { return kForcedSid; };
    StartLns(std::move(o));
  }
  // The LNS endpoint of client c's session (by its address and our ids).
  std::shared_ptr<EndpointLog> LnsEndpointOf(int c, uint16_t lac_sid) const {
    for (const auto& ep : lns_eps)
      if (ep->info.peer_ip == net.clients[c].seen_by_lns.peer_ip &&
          ep->info.local_tunnel_id == lacs[c]->peer_tunnel_id() &&
          ep->info.local_session_id == lacs[c]->session_peer_id(lac_sid))
        return ep;
    return nullptr;
  }
  Bytes Tagged(uint8_t tag) const {
    Bytes f = kFrame;
    f[3] = tag;
    return f;
  }
  // A well-sequenced StopCCN naming our tunnel `tid`, as client c's next
  // message would be, but injected from `from`.
  Bytes ForgedStopCcn(int c, uint16_t tid) const {
    uint16_t ns = 0, nr = 0;
    for (const Wire& w : net.log)
      if (w.dir == Dir::kToLns && w.client == c && w.control && !w.zlb) {
        ns = uint16_t(w.header.ns + 1);
        nr = w.header.nr;
      }
    AvpWriter w(MessageType::kStopCcn);
    w.U16(AvpType::kAssignedTunnelId, lacs[c]->local_tunnel_id())
        .Result(stopccn::kGeneralClear, 0, "forged");
    return BuildControlMessage(tid, 0, ns, nr, w.bytes());
  }
  size_t EstablishedTunnels() const {
    size_t n = 0;
    for (const TunnelView& t : lns->Tunnels()) n += t.state == TunnelState::kEstablished;
    return n;
  }
};

TEST_F(SharedIdsTest, TwoPeersWithTheSameTunnelIdWorkIndependently) {
  StartForced();
  int a = AddClient(), b = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  // Both clients were told the same tunnel id; the LNS has two tunnels.
  EXPECT_EQ(lacs[a]->peer_tunnel_id(), kSharedTid);
  EXPECT_EQ(lacs[b]->peer_tunnel_id(), kSharedTid);
  ASSERT_EQ(lns->tunnel_count(), 2u);
  EXPECT_EQ(TunnelOf(a).binding.sa_index, ClientBinding(a).sa_index);
  EXPECT_EQ(TunnelOf(b).binding.sa_index, ClientBinding(b).sa_index);
  EXPECT_EQ(TunnelOf(a).peer_hostname, "lac0");
  EXPECT_EQ(TunnelOf(b).peer_hostname, "lac1");

  std::shared_ptr<EndpointLog> la, lb;
  uint16_t sa = OpenCall(a, &la), sb = OpenCall(b, &lb);
  ASSERT_EQ(lacs[a]->session_state(sa), LacSessionState::kEstablished);
  ASSERT_EQ(lacs[b]->session_state(sb), LacSessionState::kEstablished);
  // (7, 5) went to the first session; the second one on tunnel id 7 got
  // another session id, so the dataplane's (tunnel, session) key is unique.
  EXPECT_EQ(lacs[a]->session_peer_id(sa), kForcedSid);
  EXPECT_NE(lacs[b]->session_peer_id(sb), kForcedSid);
  EXPECT_NE(lacs[b]->session_peer_id(sb), 0);
  auto ea = LnsEndpointOf(a, sa), eb = LnsEndpointOf(b, sb);
  ASSERT_NE(ea, nullptr);
  ASSERT_NE(eb, nullptr);
  EXPECT_EQ(ea->info.inbound_sa, ClientBinding(a).sa_index);
  EXPECT_EQ(eb->info.inbound_sa, ClientBinding(b).sa_index);
  EXPECT_EQ(ea->info.local_tunnel_id, eb->info.local_tunnel_id);

  // Data both ways: each frame reaches its own LNS endpoint and comes back
  // (echo) to the client that sent it only.
  la->link->SendPppFrame(Tagged(0xAA));
  lb->link->SendPppFrame(Tagged(0xBB));
  Run(absl::Seconds(1));
  ASSERT_EQ(ea->frames.size(), 1u);
  ASSERT_EQ(eb->frames.size(), 1u);
  EXPECT_EQ(ea->frames[0], Tagged(0xAA));
  EXPECT_EQ(eb->frames[0], Tagged(0xBB));
  ASSERT_EQ(la->frames.size(), 1u);
  ASSERT_EQ(lb->frames.size(), 1u);
  EXPECT_EQ(la->frames[0], Tagged(0xAA));
  EXPECT_EQ(lb->frames[0], Tagged(0xBB));

  // HELLOs (60 s interval) on both control connections, each acknowledged
  // by its own client: nobody retransmits, both stay up.
  Run(absl::Minutes(3));
  EXPECT_GE(net.Count(Dir::kToLac, MessageType::kHello, a), 2);
  EXPECT_GE(net.Count(Dir::kToLac, MessageType::kHello, b), 2);
  EXPECT_EQ(LnsCounter("retransmits"), 0u);
  EXPECT_EQ(EstablishedTunnels(), 2u);

  // A hangs up (StopCCN for tunnel 7 from A): only A's tunnel goes.
  lacs[a]->CloseTunnel("user hung up");
  Run(absl::Seconds(2));
  EXPECT_EQ(LnsCounter("stopccn_received"), 1u);
  EXPECT_EQ(lns->tunnel_count(), 1u);
  EXPECT_EQ(TunnelOf(b).state, TunnelState::kEstablished);
  EXPECT_EQ(ea->link_down.size(), 1u);
  EXPECT_TRUE(eb->link_down.empty());
  EXPECT_EQ(lacs[b]->tunnel_state(), LacTunnelState::kEstablished);
  lb->link->SendPppFrame(Tagged(0xBC));
  Run(absl::Seconds(1));
  ASSERT_EQ(eb->frames.size(), 2u);
  EXPECT_EQ(eb->frames[1], Tagged(0xBC));
  EXPECT_EQ(lb->frames.size(), 2u);
  // After A's linger its id is free again; B keeps HELLOing on tunnel 7.
  Run(absl::Minutes(2));
  EXPECT_EQ(lns->Tunnels().size(), 1u);
  EXPECT_EQ(TunnelOf(b).state, TunnelState::kEstablished);
  EXPECT_EQ(lacs[b]->tunnel_state(), LacTunnelState::kEstablished);
  EXPECT_FALSE(lns->ids().TunnelInUse(
      IdAllocator::Scope(ClientBinding(a).peer_ip, ClientBinding(a).peer_port), kSharedTid));
  // A reconnects and gets tunnel 7 again, next to B's.
  net.clients[a].lac = nullptr;
  int again = AddClient(ClientBinding(a), cfg);
  ASSERT_TRUE(BringUp(again));
  EXPECT_EQ(lacs[again]->peer_tunnel_id(), kSharedTid);
  EXPECT_EQ(EstablishedTunnels(), 2u);
}

TEST_F(SharedIdsTest, TheLnsClosingOnePeersTunnelLeavesTheOtherUp) {
  StartForced();
  int a = AddClient(), b = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  std::shared_ptr<EndpointLog> la, lb;
  uint16_t sa = OpenCall(a, &la), sb = OpenCall(b, &lb);
  // The bare id is ambiguous: refused, naming both peers, nothing closed.
  absl::Status s = lns->CloseTunnel({.local_id = kSharedTid}, "operator");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("198.18.0.10:1701"), std::string::npos) << s;
  EXPECT_NE(s.message().find("198.18.0.11:1701"), std::string::npos) << s;
  EXPECT_EQ(EstablishedTunnels(), 2u);
  // Another peer's address matches nothing.
  EXPECT_EQ(lns->CloseTunnel({.local_id = kSharedTid, .peer_ip = ClientBinding(9).peer_ip},
                             "operator")
                .code(),
            absl::StatusCode::kNotFound);
  // Named by the peer: only B's tunnel is closed, with a StopCCN to B.
  ASSERT_TRUE(lns->CloseTunnel({.local_id = kSharedTid, .peer_ip = ClientBinding(b).peer_ip},
                               "operator")
                  .ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[b]->stop_received());
  EXPECT_FALSE(lacs[a]->stop_received());
  EXPECT_EQ(lacs[a]->tunnel_state(), LacTunnelState::kEstablished);
  EXPECT_EQ(lacs[a]->session_state(sa), LacSessionState::kEstablished);
  EXPECT_NE(lacs[b]->session_state(sb), LacSessionState::kEstablished);
  // Now the bare id names one open tunnel (B's is closing): A's.
  ASSERT_TRUE(lns->CloseSession(kSharedTid, lacs[a]->session_peer_id(sa), "admin").ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[a]->cdn_result(sa), cdn::kAdministrative);
  EXPECT_EQ(lacs[a]->tunnel_state(), LacTunnelState::kEstablished);
  EXPECT_TRUE(lns->CloseTunnel({.local_id = kSharedTid}, "operator").ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[a]->stop_received());
}

TEST_F(SharedIdsTest, OnePeerCannotReachAnothersTunnelOrSessionWithTheSameIds) {
  StartForced();
  int a = AddClient(), b = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  std::shared_ptr<EndpointLog> la, lb;
  uint16_t sa = OpenCall(a, &la);
  OpenCall(b, &lb);
  const uint16_t a_sid = lacs[a]->session_peer_id(sa);  // our id of A's session
  auto ea = LnsEndpointOf(a, sa);
  ASSERT_NE(ea, nullptr);

  // B, on its own tunnel 7, sends a CDN for A's session id: its tunnel has
  // no such session. A's call stays up.
  const uint64_t before = LnsCounter("drop_unknown_session");
  ASSERT_TRUE(lacs[b]->SendCustom(uint16_t(MessageType::kCdn), true, a_sid,
                                  {{true, 0, uint16_t(AvpType::kResultCode), Bytes{0, 3}},
                                   {true, 0, uint16_t(AvpType::kAssignedSessionId),
                                    Bytes{0, 1}}})
                  .ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("drop_unknown_session"), before + 1u);
  EXPECT_EQ(LnsCounter("cdn_received"), 0u);
  EXPECT_EQ(lacs[a]->session_state(sa), LacSessionState::kEstablished);
  EXPECT_TRUE(ea->link_down.empty());

  // B's data (and a PPP frame punted for B's path) naming (7, A's session):
  // dropped, never delivered to A's endpoint.
  lns->OnDataMessage(ClientBinding(b), BuildDataMessage(kSharedTid, a_sid, {}, kFrame));
  lns->DeliverPppFrame(ClientBinding(b), kSharedTid, a_sid, kFrame);
  EXPECT_EQ(LnsCounter("drop_unknown_session"), before + 3u);
  EXPECT_TRUE(ea->frames.empty());

  // A StopCCN for tunnel 7 from a third peer that has no tunnel: unknown.
  lns->OnControlMessage(ClientBinding(2), ForgedStopCcn(a, kSharedTid));
  EXPECT_EQ(LnsCounter("drop_unknown_tunnel"), 1u);
  // From another client behind A's NAT (same address and port, its own SA):
  // A's tunnel is found by the address but the SA is not A's.
  PeerBinding nat = ClientBinding(a);
  nat.sa_index = 999;
  lns->OnControlMessage(nat, ForgedStopCcn(a, kSharedTid));
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 1u);
  lns->DeliverPppFrame(nat, kSharedTid, a_sid, kFrame);
  EXPECT_EQ(LnsCounter("drop_binding_mismatch"), 2u);
  EXPECT_TRUE(ea->frames.empty());
  Run(absl::Seconds(1));
  EXPECT_EQ(LnsCounter("stopccn_received"), 0u);
  EXPECT_EQ(EstablishedTunnels(), 2u);
  EXPECT_EQ(lns->session_count(), 2u);

  // A's own (real) traffic still flows.
  la->link->SendPppFrame(kFrame);
  Run(absl::Seconds(1));
  EXPECT_EQ(ea->frames.size(), 1u);
}

TEST_F(SharedIdsTest, ClientsBehindOneNatNeverShareATunnelId) {
  // Same public address and L2TP port, different SAs: the address is what
  // picks a tunnel, so these two must not share our id even when forced.
  StartForced();
  PeerBinding b0 = ClientBinding(0), b1 = ClientBinding(0);
  b1.sa_index = 101;
  int a = AddClient(b0, cfg), b = AddClient(b1, cfg);
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  EXPECT_EQ(lacs[a]->peer_tunnel_id(), kSharedTid);
  EXPECT_NE(lacs[b]->peer_tunnel_id(), kSharedTid);
  std::shared_ptr<EndpointLog> la, lb;
  OpenCall(a, &la);
  OpenCall(b, &lb);
  la->link->SendPppFrame(Tagged(0xAA));
  lb->link->SendPppFrame(Tagged(0xBB));
  Run(absl::Seconds(1));
  ASSERT_EQ(la->frames.size(), 1u);
  ASSERT_EQ(lb->frames.size(), 1u);
  EXPECT_EQ(la->frames[0], Tagged(0xAA));
  EXPECT_EQ(lb->frames[0], Tagged(0xBB));
}

TEST_F(SharedIdsTest, ManyPeersOnOneTunnelIdEachGetAUniquePair) {
  StartForced();
  constexpr int kPeers = 40;
  std::vector<std::shared_ptr<EndpointLog>> logs(kPeers);
  std::set<uint32_t> pairs;
  for (int i = 0; i < kPeers; ++i) {
    int c = AddClient();
    ASSERT_TRUE(BringUp(c)) << "peer " << i;
    ASSERT_EQ(lacs[c]->peer_tunnel_id(), kSharedTid);
    uint16_t sid = OpenCall(c, &logs[c]);
    ASSERT_EQ(lacs[c]->session_state(sid), LacSessionState::kEstablished);
    EXPECT_TRUE(pairs.insert(uint32_t(lacs[c]->peer_tunnel_id()) << 16 |
                             lacs[c]->session_peer_id(sid))
                    .second);
  }
  for (int c = 0; c < kPeers; ++c) logs[c]->link->SendPppFrame(Tagged(uint8_t(c)));
  Run(absl::Seconds(1));
  for (int c = 0; c < kPeers; ++c) {
    ASSERT_EQ(logs[c]->frames.size(), 1u) << "peer " << c;
    EXPECT_EQ(logs[c]->frames[0], Tagged(uint8_t(c)));
  }
  EXPECT_EQ(lns->session_count(), size_t(kPeers));
  EXPECT_EQ(LnsCounter("drop_unknown_session") + LnsCounter("drop_binding_mismatch"), 0u);
}

TEST_F(SharedIdsTest, ConfiguredCapacityRefusesWithNoResources) {
  LnsOptions o;
  o.max_tunnels = 2;
  o.max_sessions = 1;
  StartForced(o);
  int a = AddClient(), b = AddClient(), c = AddClient();
  ASSERT_TRUE(BringUp(a));
  ASSERT_TRUE(BringUp(b));
  ASSERT_TRUE(lacs[c]->OpenTunnel().ok());
  Run(absl::Seconds(1));
  EXPECT_TRUE(lacs[c]->stop_received());
  EXPECT_EQ(lacs[c]->stop_result(), stopccn::kGeneralError);
  EXPECT_EQ(lacs[c]->stop_error(), errcode::kNoResources);
  EXPECT_EQ(LnsCounter("tunnels_refused_capacity"), 1u);
  uint16_t sa = OpenCall(a, nullptr);
  EXPECT_EQ(lacs[a]->session_state(sa), LacSessionState::kEstablished);
  auto sb = lacs[b]->OpenSession(nullptr);
  ASSERT_TRUE(sb.ok());
  Run(absl::Seconds(1));
  EXPECT_EQ(lacs[b]->session_state(*sb), LacSessionState::kDead);
  EXPECT_EQ(lacs[b]->cdn_result(*sb), cdn::kNoFacilitiesTemporary);
  EXPECT_EQ(LnsCounter("sessions_refused_capacity"), 1u);
  EXPECT_EQ(lacs[b]->tunnel_state(), LacTunnelState::kEstablished);  // only the call
}

TEST_F(SharedIdsTest, ReservedPairsOfAdoptedSessionsAreNotReused) {
  // A previous control plane left (7, 5) in the dataplane.
  StartForced();
  ASSERT_TRUE(lns->ReserveSessionIds(kSharedTid, kForcedSid).ok());
  EXPECT_EQ(lns->ReserveSessionIds(kSharedTid, kForcedSid).code(),
            absl::StatusCode::kAlreadyExists);
  int a = AddClient();
  ASSERT_TRUE(BringUp(a));
  uint16_t sa = OpenCall(a, nullptr);
  EXPECT_EQ(lacs[a]->peer_tunnel_id(), kSharedTid);
  EXPECT_NE(lacs[a]->session_peer_id(sa), kForcedSid);
  // Releasing a pair a live session holds is a no-op; the reservation goes.
  lns->ReleaseSessionIds(kSharedTid, lacs[a]->session_peer_id(sa));
  EXPECT_TRUE(lns->ids().SessionInUse(kSharedTid, lacs[a]->session_peer_id(sa)));
  lns->ReleaseSessionIds(kSharedTid, kForcedSid);
  EXPECT_FALSE(lns->ids().SessionInUse(kSharedTid, kForcedSid));
}

}  // namespace
}  // namespace exchange_shared_ids_test
}  // namespace vpn::l2tp::testing
