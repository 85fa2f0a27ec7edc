// The RFC 1661 section 4.1 state transition table, re-typed here from the RFC
// independently of fsm_table.cc, checked cell by cell against what the
// automaton observably does: packets sent, layer callbacks, restart counter,
// restart timer and next state.
#include "fsm.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>


namespace vpn::ppp {
namespace {

constexpr const char* kRfcTable[kFsmEventCount][kFsmStateCount] = {
    // Initial Starting Closed Stopped Closing Stopping ReqSent AckRcvd AckSent Opened
    /*Up  */ {"2", "irc,scr/6", "-", "-", "-", "-", "-", "-", "-", "-"},
    /*Down*/ {"-", "-", "0", "tls/1", "0", "1", "1", "1", "1", "tld/1"},
    /*Open*/ {"tls/1", "1", "irc,scr/6", "3r", "5r", "5r", "6", "7", "8", "9r"},
    /*Clos*/ {"0", "tlf/0", "2", "2", "4", "4", "irc,str/4", "irc,str/4",
              "irc,str/4", "tld,irc,str/4"},
    /*TO+ */ {"-", "-", "-", "-", "str/4", "str/5", "scr/6", "scr/6", "scr/8", "-"},
    /*TO- */ {"-", "-", "-", "-", "tlf/2", "tlf/3", "tlf/3p", "tlf/3p", "tlf/3p", "-"},
    /*RCR+*/ {"-", "-", "sta/2", "irc,scr,sca/8", "4", "5", "sca/8", "sca,tlu/9",
              "sca/8", "tld,scr,sca/8"},
    /*RCR-*/ {"-", "-", "sta/2", "irc,scr,scn/6", "4", "5", "scn/6", "scn/7",
              "scn/6", "tld,scr,scn/6"},
    /*RCA */ {"-", "-", "sta/2", "sta/3", "4", "5", "irc/7", "scr/6x", "irc,tlu/9",
              "tld,scr/6x"},
    /*RCN */ {"-", "-", "sta/2", "sta/3", "4", "5", "irc,scr/6", "scr/6x",
              "irc,scr/8", "tld,scr/6x"},
    /*RTR */ {"-", "-", "sta/2", "sta/3", "sta/4", "sta/5", "sta/6", "sta/6",
              "sta/6", "tld,zrc,sta/5"},
    /*RTA */ {"-", "-", "2", "3", "tlf/2", "tlf/3", "6", "6", "8", "tld,scr/6"},
    /*RUC */ {"-", "-", "scj/2", "scj/3", "scj/4", "scj/5", "scj/6", "scj/7",
              "scj/8", "scj/9"},
    /*RXJ+*/ {"-", "-", "2", "3", "4", "5", "6", "6", "8", "9"},
    /*RXJ-*/ {"-", "-", "tlf/2", "tlf/3", "tlf/2", "tlf/3", "tlf/3", "tlf/3",
              "tlf/3", "tld,irc,str/5"},
    /*RXR */ {"-", "-", "2", "3", "4", "5", "6", "7", "8", "ser/9"},
};

struct Cell {
  bool possible = false;
  std::vector<std::string> actions;
  int next = -1;
};

Cell ParseCell(std::string_view text) {
  Cell c;
  if (text == "-") return c;
  c.possible = true;
  std::string_view state = text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    std::string_view acts = text.substr(0, slash);
    while (!acts.empty()) {
      size_t comma = acts.find(',');
      c.actions.emplace_back(acts.substr(0, comma));
      acts = comma == std::string_view::npos ? "" : acts.substr(comma + 1);
    }
    state = text.substr(slash + 1);
  }
  c.next = state[0] - '0';  // trailing r/p/x option letters are ignored
  return c;
}

constexpr uint8_t kLastRequestId = 0x40;
const Bytes kOurOptions = {1, 4, 0x05, 0x78};  // MRU 1400

class TableProto : public FsmProtocol {
 public:
  explicit TableProto(std::vector<std::string>* log) : log_(log) {}
  RcrVerdict verdict = RcrVerdict::kAck;
  Bytes BuildRequestOptions() override { return kOurOptions; }
  RcrVerdict JudgeRequest(ByteSpan options, bool, Bytes* reply) override {
    if (verdict == RcrVerdict::kAck) {
      reply->assign(options.begin(), options.end());
    } else {
      *reply = {1, 4, 0x05, 0xdc};
    }
    return verdict;
  }
  void OnAck(ByteSpan) override {}
  bool OnNak(ByteSpan) override { return true; }
  bool OnReject(ByteSpan) override { return true; }
  std::optional<FsmEvent> ClassifyExtendedCode(const ControlPacket& p) override {
    if (p.code >= kEchoRequest && p.code <= kDiscardRequest) return FsmEvent::kRxr;
    return std::nullopt;
  }
  Bytes EchoReplyData(const ControlPacket&) override { return {0, 0, 0, 0}; }
  void ThisLayerUp() override { log_->push_back("tlu"); }
  void ThisLayerDown() override { log_->push_back("tld"); }
  void ThisLayerStarted() override { log_->push_back("tls"); }
  void ThisLayerFinished() override { log_->push_back("tlf"); }

 private:
  std::vector<std::string>* log_;
};

Bytes Packet(uint8_t code, uint8_t id, const Bytes& data) {
  Bytes b = BuildControlFrame(0xC021, code, id, data);
  return Bytes(b.begin() + 2, b.end());
}

class FsmTableTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(FsmTableTest, MatchesRfc1661) {
  const auto [ev, st] = GetParam();
  const FsmEvent event = static_cast<FsmEvent>(ev);
  const FsmState state = static_cast<FsmState>(st);
  const Cell want = ParseCell(kRfcTable[ev][st]);
  SCOPED_TRACE(std::string(EventName(event)) + " in " +
               std::string(StateName(state)) + ": RFC says " + kRfcTable[ev][st]);

  cp::ManualTimerQueue timers;
  std::vector<std::string> log;
  TableProto proto(&log);
  FsmConfig cfg;
  cfg.max_configure = 10;
  cfg.max_terminate = 2;
  Fsm fsm("TEST", 0xC021, proto, cfg, timers, [&](const Bytes& f) {
    ASSERT_GE(f.size(), 6u);
    EXPECT_EQ(ReadU16(f, 0), 0xC021);
    switch (f[2]) {
      case kConfigureRequest: log.push_back("scr"); break;
      case kConfigureAck: log.push_back("sca"); break;
      case kConfigureNak:
      case kConfigureReject: log.push_back("scn"); break;
      case kTerminateRequest: log.push_back("str"); break;
      case kTerminateAck: log.push_back("sta"); break;
      case kCodeReject: log.push_back("scj"); break;
      case kEchoReply: log.push_back("ser"); break;
      default: log.push_back("unexpected code " + std::to_string(f[2]));
    }
  });
  const uint32_t forced_counter = event == FsmEvent::kTimeoutMinus ? 0 : 2;
  fsm.ForceStateForTest(state, forced_counter, kLastRequestId);

  switch (event) {
    case FsmEvent::kUp: fsm.Up(); break;
    case FsmEvent::kDown: fsm.Down(); break;
    case FsmEvent::kOpen: fsm.Open(); break;
    case FsmEvent::kClose: fsm.Close("test"); break;
    case FsmEvent::kTimeoutPlus:
    case FsmEvent::kTimeoutMinus: timers.Advance(cfg.restart); break;
    case FsmEvent::kRcrPlus:
      proto.verdict = RcrVerdict::kAck;
      fsm.Input(Packet(kConfigureRequest, 0x33, {1, 4, 0x05, 0xdc}));
      break;
    case FsmEvent::kRcrMinus:
      proto.verdict = RcrVerdict::kNak;
      fsm.Input(Packet(kConfigureRequest, 0x33, {1, 4, 0x00, 0x10}));
      break;
    case FsmEvent::kRca:
      fsm.Input(Packet(kConfigureAck, kLastRequestId, kOurOptions));
      break;
    case FsmEvent::kRcn:
      fsm.Input(Packet(kConfigureNak, kLastRequestId, {1, 4, 0x05, 0xdc}));
      break;
    case FsmEvent::kRtr: fsm.Input(Packet(kTerminateRequest, 0x21, {})); break;
    case FsmEvent::kRta: fsm.Input(Packet(kTerminateAck, 0x21, {})); break;
    case FsmEvent::kRuc: fsm.Input(Packet(0x77, 0x21, {1, 2, 3})); break;
    case FsmEvent::kRxjPlus:
      fsm.Input(Packet(kCodeReject, 0x21, {kEchoRequest, 1, 0, 8, 0, 0, 0, 0}));
      break;
    case FsmEvent::kRxjMinus:
      fsm.Input(Packet(kCodeReject, 0x21, {kConfigureRequest, 1, 0, 4}));
      break;
    case FsmEvent::kRxr:
      fsm.Input(Packet(kEchoRequest, 0x21, {0, 0, 0, 0}));
      break;
  }

  if (!want.possible) {
    EXPECT_TRUE(log.empty()) << "first: " << log.front();
    EXPECT_EQ(fsm.state(), state);
    return;
  }
  std::vector<std::string> visible;
  bool irc = false, zrc = false, str = false, scr = false;
  for (const auto& a : want.actions) {
    if (a == "irc") irc = true;
    else if (a == "zrc") zrc = true;
    else visible.push_back(a);
    str |= a == "str";
    scr |= a == "scr";
  }
  EXPECT_EQ(log, visible);
  EXPECT_EQ(static_cast<int>(fsm.state()), want.next);
  if (irc) {
    EXPECT_EQ(fsm.restart_counter(),
              str ? cfg.max_terminate - 1
                  : scr ? cfg.max_configure - 1 : cfg.max_configure);
  } else if (zrc) {
    EXPECT_EQ(fsm.restart_counter(), 0u);
  } else if (str || scr) {
    EXPECT_EQ(fsm.restart_counter(), forced_counter - 1);
  }
  // The restart timer runs exactly in Closing..Ack-Sent (RFC 1661 4.6).
  const bool timer_state = want.next >= 4 && want.next <= 8;
  EXPECT_EQ(timers.pending(), timer_state ? 1u : 0u);
}

std::vector<std::pair<int, int>> AllCells() {
  std::vector<std::pair<int, int>> v;
  for (int e = 0; e < kFsmEventCount; ++e)
    for (int s = 0; s < kFsmStateCount; ++s) v.emplace_back(e, s);
  return v;
}

INSTANTIATE_TEST_SUITE_P(
    AllEventsAllStates, FsmTableTest, ::testing::ValuesIn(AllCells()),
    [](const auto& info) {
      std::string ev(EventName(static_cast<FsmEvent>(info.param.first)));
      std::string st(StateName(static_cast<FsmState>(info.param.second)));
      for (char& c : ev)
        if (c == '+') c = 'P';
        else if (c == '-') c = 'M';  // TO- -> TOM, RXJ- -> RXJM
      std::erase(st, '-');           // Ack-Sent -> AckSent
      return ev + "_in_" + st;
    });

// Two automata back to back reach Opened; one silent peer exhausts
// Max-Configure and finishes after exactly max_configure requests.

TEST(Fsm, BackToBackOpensBothWays) {
  cp::ManualTimerQueue timers;
  std::vector<std::string> la, lb;
  TableProto pa(&la), pb(&lb);
  std::vector<Bytes> to_a, to_b;
  FsmConfig cfg;
  Fsm a("A", 0xC021, pa, cfg, timers, [&](const Bytes& f) { to_b.push_back(f); });
  Fsm b("B", 0xC021, pb, cfg, timers, [&](const Bytes& f) { to_a.push_back(f); });
  a.Open(); a.Up();
  b.Open(); b.Up();
  for (int i = 0; i < 20 && (!to_a.empty() || !to_b.empty()); ++i) {
    auto qa = std::move(to_a), qb = std::move(to_b);
    to_a.clear(); to_b.clear();
    for (auto& f : qa) a.Input(ByteSpan(f).subspan(2));
    for (auto& f : qb) b.Input(ByteSpan(f).subspan(2));
  }
  EXPECT_EQ(a.state(), FsmState::kOpened);
  EXPECT_EQ(b.state(), FsmState::kOpened);
  EXPECT_EQ(la, (std::vector<std::string>{"tls", "tlu"}));
  EXPECT_EQ(timers.pending(), 0u);
  // Close: a sends Terminate-Request, b acks and stops, a finishes.
  a.Close("bye");
  for (int i = 0; i < 20 && (!to_a.empty() || !to_b.empty()); ++i) {
    auto qa = std::move(to_a), qb = std::move(to_b);
    to_a.clear(); to_b.clear();
    for (auto& f : qa) a.Input(ByteSpan(f).subspan(2));
    for (auto& f : qb) b.Input(ByteSpan(f).subspan(2));
  }
  EXPECT_EQ(a.state(), FsmState::kClosed);
  EXPECT_EQ(b.state(), FsmState::kStopping);
  timers.Advance(cfg.restart);
  EXPECT_EQ(b.state(), FsmState::kStopped);
  EXPECT_EQ(lb.back(), "tlf");
}

TEST(Fsm, SilentPeerExhaustsMaxConfigure) {
  cp::ManualTimerQueue timers;
  std::vector<std::string> log;
  TableProto p(&log);
  FsmConfig cfg;
  cfg.max_configure = 4;
  int requests = 0;
  Fsm f("A", 0x8021, p, cfg, timers, [&](const Bytes& fr) {
    if (fr[2] == kConfigureRequest) ++requests;
  });
  f.Open(); f.Up();
  timers.Advance(absl::Seconds(60));
  EXPECT_EQ(requests, 4);
  EXPECT_EQ(f.state(), FsmState::kStopped);
  EXPECT_EQ(log, (std::vector<std::string>{"tls", "tlf"}));
}

TEST(Fsm, StaleAndForgedRepliesAreDropped) {
  cp::ManualTimerQueue timers;
  std::vector<std::string> log;
  TableProto p(&log);
  Bytes last;
  Fsm f("A", 0xC021, p, FsmConfig{}, timers, [&](const Bytes& fr) { last = fr; });
  f.Open(); f.Up();
  ASSERT_EQ(last[2], kConfigureRequest);
  const uint8_t id = last[3];
  f.Input(Packet(kConfigureAck, uint8_t(id + 1), kOurOptions));  // wrong id
  f.Input(Packet(kConfigureAck, id, {1, 4, 0x05, 0x79}));         // altered
  EXPECT_EQ(f.state(), FsmState::kReqSent);
  EXPECT_EQ(f.dropped(), 2u);
  f.Input(Packet(kConfigureAck, id, kOurOptions));
  EXPECT_EQ(f.state(), FsmState::kAckRcvd);
}

TEST(Fsm, MaxFailureTurnsNakIntoReject) {
  cp::ManualTimerQueue timers;
  std::vector<std::string> log;
  struct P : TableProto {
    using TableProto::TableProto;
    bool saw_reject_flag = false;
    RcrVerdict JudgeRequest(ByteSpan, bool nak_as_reject, Bytes* reply) override {
      saw_reject_flag = nak_as_reject;
      *reply = {1, 4, 0, 0};
      return nak_as_reject ? RcrVerdict::kReject : RcrVerdict::kNak;
    }
  } p(&log);
  FsmConfig cfg;
  cfg.max_failure = 3;
  std::vector<uint8_t> codes;
  Fsm f("A", 0xC021, p, cfg, timers, [&](const Bytes& fr) { codes.push_back(fr[2]); });
  f.Open(); f.Up();
  for (int i = 0; i < 5; ++i) f.Input(Packet(kConfigureRequest, uint8_t(i), {1, 4, 0, 1}));
  // scr, then 3 Naks, then Rejects.
  EXPECT_EQ(codes, (std::vector<uint8_t>{1, 3, 3, 3, 4, 4}));
}

}  // namespace
}  // namespace vpn::ppp
