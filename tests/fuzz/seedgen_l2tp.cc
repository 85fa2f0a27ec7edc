// L2TP seeds: our LAC against our LNS over an in-process queue (tunnel,
// session, PPP frames both ways, HELLO, CDN, StopCCN), with and without a
// tunnel secret (hidden AVPs); the LAC's messages become records of the
// l2tp_lns / l2tp_data targets with all header fix-ups enabled.
#include <deque>

#include "control_message.h"
#include "lac.h"
#include "lns.h"
#include "seedgen.h"

namespace vpn::fuzz::seedgen {
namespace {

using namespace vpn::l2tp;

constexpr const char* kMessages = "l2tp_messages";
constexpr const char* kLns = "l2tp_lns";
constexpr const char* kData = "l2tp_data";

// l2tp_rig.h record kinds and fix-up flags.
enum : uint8_t { kControl = 0, kDataMsg = 1, kPppFrame = 2, kTick = 3, kOperator = 4,
                 kLacPump = 5, kEndpoint = 6 };
constexpr uint8_t kFixAll = 0x1F;           // tunnel, session, Ns, Nr, Length
constexpr uint8_t kFixSccrq = 0x1C;         // Ns, Nr, Length (tunnel id stays 0)
constexpr uint8_t kFixData = 0x13;          // tunnel, session, Length

struct Wire {
  bool to_lns;
  Bytes bytes;
};

class Queue : public Transport {
 public:
  Queue(std::deque<Wire>* q, bool to_lns) : q_(q), to_lns_(to_lns) {}
  void SendL2tp(const PeerBinding&, std::span<const uint8_t> m) override {
    q_->push_back({to_lns_, Bytes(m.begin(), m.end())});
  }
 private:
  std::deque<Wire>* q_;
  bool to_lns_;
};

class Recorder : public cp::PppEndpoint {
 public:
  explicit Recorder(cp::PppLink& l, cp::PppLink** out) { *out = &l; }
  void OnPppFrame(std::span<const uint8_t>) override {}
  void OnLinkDown(std::string_view) override {}
};

std::vector<Wire> Exchange(const std::string& secret, bool sequencing) {
  std::vector<Wire> log;
  std::deque<Wire> q;
  Queue to_lac(&q, false), to_lns(&q, true);
  cp::ManualTimerQueue timers;
  config::L2tp cfg;
  cfg.hostname = "lns.fuzz";
  cfg.tunnel_secret = secret;
  PeerBinding b;
  b.sa_index = 100;
  b.peer_ip = 0x0A0012C6;
  b.peer_port = 1701;
  cp::PppLink* lns_link = nullptr;
  cp::PppLink* lac_link = nullptr;
  LnsOptions lo;
  lo.hide_avps = !secret.empty();
  Lns lns(cfg, timers, to_lac,
          [&](cp::PppLink& l, const cp::L2tpSessionInfo&) -> std::unique_ptr<cp::PppEndpoint> {
            return std::make_unique<Recorder>(l, &lns_link);
          },
          lo);
  LacOptions ao;
  ao.hide_avps = !secret.empty();
  Lac lac(cfg, timers, to_lns, b, ao);
  auto pump = [&] {
    for (int n = 0; n < 100 && !q.empty(); ++n) {
      Wire w = std::move(q.front());
      q.pop_front();
      log.push_back(w);
      Header h;
      const bool control = ParseHeader(w.bytes, &h) == HeaderError::kOk && h.control;
      if (w.to_lns) {
        if (control) lns.OnControlMessage(b, w.bytes);
        else lns.OnDataMessage(b, w.bytes);
      } else if (control) {
        lac.OnControlMessage(w.bytes);
      } else {
        lac.OnDataMessage(w.bytes);
      }
    }
  };
  (void)lac.OpenTunnel();
  pump();
  LacCallOptions co;
  co.sequencing_required = sequencing;
  auto sid = lac.OpenSession(
      [&](cp::PppLink& l, const cp::L2tpSessionInfo&) -> std::unique_ptr<cp::PppEndpoint> {
        return std::make_unique<Recorder>(l, &lac_link);
      },
      co);
  pump();
  const Bytes lcp_req = {0xC0, 0x21, 1, 1, 0, 14, 1, 4, 0x05, 0x78, 5, 6, 0x12, 0x34, 0x56, 0x78};
  const Bytes ipv4 = {0x00, 0x21, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0,
                      100, 64, 0, 5, 10, 10, 0, 2};
  if (lac_link) lac_link->SendPppFrame(lcp_req);
  if (lns_link) lns_link->SendPppFrame(lcp_req);
  if (lac_link) lac_link->SendPppFrame(ipv4);
  pump();
  const uint32_t errors[6] = {1, 2, 3, 4, 5, 6};
  if (sid.ok()) (void)lac.SendWanErrorNotify(*sid, errors);
  pump();
  timers.Advance(absl::Seconds(61));  // HELLO
  pump();
  if (sid.ok()) (void)lac.CloseSession(*sid, "bye");
  pump();
  lac.CloseTunnel("bye");
  pump();
  return log;
}

void Seeds(Sink& s, const std::string& secret, bool sequencing) {
  const std::string tag = std::string(secret.empty() ? "plain" : "hidden") +
                          (sequencing ? "_seq" : "");
  const std::vector<Wire> log = Exchange(secret, sequencing);
  const uint8_t sel = secret.empty() ? 0 : 1;
  int n = 0;
  for (const Wire& w : log) s.WriteSel(kMessages, tag + "_" + std::to_string(n++), sel, w.bytes);

  // The LAC's messages, in order, as the fuzzer's own (stage 0: fresh LNS).
  const uint8_t secret_bit = secret.empty() ? 0 : 0x08;
  RecordWriter all(uint8_t(0x10 | secret_bit));
  RecordWriter data_only(uint8_t(0x02 | secret_bit | (sequencing ? 0x40 : 0)));
  RecordWriter up(uint8_t(0x02 | secret_bit));
  bool first = true;
  for (const Wire& w : log) {
    if (!w.to_lns) continue;
    Header h;
    if (ParseHeader(w.bytes, &h) != HeaderError::kOk) continue;
    if (h.control) {
      Bytes rec{first ? kFixSccrq : kFixAll};
      rec.insert(rec.end(), w.bytes.begin(), w.bytes.end());
      all.Add(kControl, rec);
      if (!first) up.Add(kControl, rec);
      first = false;
    } else {
      Bytes rec{kFixData};
      rec.insert(rec.end(), w.bytes.begin(), w.bytes.end());
      all.Add(kDataMsg, rec);
      data_only.Add(0, rec);  // l2tp_data: kind 0 is a data message
      up.Add(kDataMsg, rec);
    }
  }
  s.Write(kLns, tag + "_lac_messages", all);
  s.Write(kData, tag + "_data", data_only);
  // Session up, then the endpoint, the operator and the clock.
  // A data message carrying LCP Terminate-Request: the endpoint closes.
  const Bytes term_req = {kFixData, 0x40, 0x02, 0, 0, 0, 0, 0, 0,
                          0xFF, 0x03, 0xC0, 0x21, 5, 2, 0, 4};
  up.Add(kPppFrame, {0x00, 0xC0, 0x21, 9, 1, 0, 8, 0, 0, 0, 0})
      .Add(kEndpoint, {0x00, 0xC0, 0x21, 9, 2, 0, 8, 0, 0, 0, 0})
      .Add(kTick, Be16(20))
      .Add(kOperator, {5})
      .Add(kOperator, {4})
      .Add(kOperator, {0})
      .Add(kDataMsg, term_req)
      .Add(kTick, Be16(700))
      .Add(kOperator, {2})
      .Add(kOperator, {1});
  s.Write(kLns, tag + "_session_up", up);
  s.Write(kData, tag + "_terminate",
          RecordWriter(uint8_t(0x02 | secret_bit)).Add(0, term_req).Add(2, Be16(50)).Add(3, {1}));
  s.Write(kLns, tag + "_lac_alive", RecordWriter(uint8_t(0x06 | secret_bit))
                                        .Add(kTick, Be16(650))
                                        .Add(kLacPump, {})
                                        .Add(kOperator, {3})
                                        .Add(kLacPump, {})
                                        .Add(kOperator, {6})
                                        .Add(kLacPump, {}));
}

}  // namespace

void L2tpSeeds(Sink& s) {
  Seeds(s, "", false);
  Seeds(s, "", true);
  Seeds(s, "fuzz", false);
}

}  // namespace vpn::fuzz::seedgen
