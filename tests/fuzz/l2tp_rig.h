// The L2TP LNS under fuzzing (used by l2tp_lns_fuzz.cc and
// l2tp_data_fuzz.cc). Our own LAC may first bring a tunnel (and a session)
// up over an in-process queue; after that the fuzzer plays the LAC. Because
// the LNS picks random tunnel/session ids and tracks sequence numbers, the
// rig can fix up each fuzzed message's header: the LNS's current tunnel and
// session ids, the next Ns the LNS expects from us and the Nr acknowledging
// everything it sent (RFC 2661 5.8), and the Length field.
//
// Setup byte: bits 0-1 stage (0 fresh, 1 tunnel up, 2+ session up), bit 2
// keep our LAC running after setup (it answers the LNS; record kind 5 pumps),
// bit 3 tunnel secret with hidden AVPs, bit 4 cleartext allowed, bit 5 the
// PPP endpoint factory refuses sessions, bit 6 sequencing required.
//
// Records (records.h), kinds modulo 7:
//   0 control: fix-up flags(1) message...; flags bit 0 tunnel id, 1 session
//     id, 2 Ns, 3 Nr, 4 Length; bit 5 arrives on another SA, 6 cleartext
//   1 data: fix-up flags(1) message... (bits 0, 1, 4, 5 as above)
//   2 PPP frame for the LNS's current tunnel/session: flags(1) frame...
//   3 advance the clock by u16 x 100 ms
//   4 operator action: what(1)
//   5 deliver queued messages to our LAC (stage with bit 2)
//   6 PPP endpoint action: what(1) frame...
//
// At the end everything is closed and the clock runs on: no tunnel or
// session may remain and every PPP endpoint hears OnLinkDown exactly once.
#pragma once

#include <arpa/inet.h>

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "control_message.h"
#include "fuzz_common.h"
#include "lac.h"
#include "lns.h"
#include "records.h"
#include "timer_queue.h"

namespace vpn::l2tp::fuzzing {

using fuzz::Cursor;
using fuzz::Record;
using Bytes = std::vector<uint8_t>;

struct EndpointState {
  int link_down = 0;
  bool destroyed = false;
  cp::PppLink* link = nullptr;  // null once down
};

// Echoes frames; an LCP Terminate-Request (code 5) makes it close the link
// from inside the LNS's call, which the lifetime rule (lns.h) must survive.
class FuzzEndpoint : public cp::PppEndpoint {
 public:
  FuzzEndpoint(cp::PppLink& link, std::shared_ptr<EndpointState> st) : st_(std::move(st)) {
    st_->link = &link;
  }
  ~FuzzEndpoint() override { st_->destroyed = true; }
  void OnPppFrame(std::span<const uint8_t> f) override {
    FUZZ_CHECK(st_->link != nullptr);  // no frames after OnLinkDown
    if (f.size() >= 3 && f[0] == 0xC0 && f[1] == 0x21 && f[2] == 5) {
      st_->link->ClosePppLink("fuzz: terminate");
      return;
    }
    st_->link->SendPppFrame(f);
  }
  void OnLinkDown(std::string_view) override {
    ++st_->link_down;
    st_->link = nullptr;
  }

 private:
  std::shared_ptr<EndpointState> st_;
};

class NullEndpoint : public cp::PppEndpoint {
 public:
  void OnPppFrame(std::span<const uint8_t>) override {}
  void OnLinkDown(std::string_view) override {}
};

inline PeerBinding ClientBinding(uint32_t sa) {
  PeerBinding b;
  b.sa_index = sa;
  b.peer_ip = htonl(0xC612000A);  // 198.18.0.10
  b.peer_port = 1701;
  b.local_ip = htonl(0xC6120001);
  b.local_port = 1701;
  return b;
}

class Rig {
 public:
  explicit Rig(uint8_t setup);
  ~Rig();
  void Run(const Record& r);
  // Closes everything and checks that nothing is left behind.
  void Finish();

 private:
  struct Msg {
    bool to_lns = false;
    Bytes bytes;
  };
  class LnsSide : public Transport {
   public:
    explicit LnsSide(Rig* r) : r_(r) {}
    void SendL2tp(const PeerBinding&, std::span<const uint8_t> m) override { r_->FromLns(m); }
   private:
    Rig* r_;
  };
  class LacSide : public Transport {
   public:
    explicit LacSide(Rig* r) : r_(r) {}
    void SendL2tp(const PeerBinding&, std::span<const uint8_t> m) override {
      r_->queue_.push_back({true, Bytes(m.begin(), m.end())});
    }
   private:
    Rig* r_;
  };

  void FromLns(std::span<const uint8_t> m);
  void NoteOurs(std::span<const uint8_t> m);
  void Pump(int max);
  PeerBinding BindingFor(uint8_t flags) const;
  void Control(std::span<const uint8_t> data);
  void Data(std::span<const uint8_t> data);
  void Operator(uint8_t what);
  void EndpointAction(Cursor c);

  config::L2tp cfg_;
  cp::ManualTimerQueue timers_;
  LnsSide lns_side_{this};
  LacSide lac_side_{this};
  bool refuse_ = false;
  std::vector<std::shared_ptr<EndpointState>> endpoints_;
  std::unique_ptr<Lns> lns_;
  std::unique_ptr<Lac> lac_;
  std::deque<Msg> queue_;

  // What the fix-ups use.
  uint16_t lns_tunnel_ = 0;   // the LNS's id of the current tunnel
  uint16_t lns_session_ = 0;  // the LNS's id of the current session
  uint16_t our_tunnel_ = 0;   // our (LAC) id of the current tunnel
  uint16_t our_ns_ = 0;       // next Ns the LNS expects from us
  std::map<uint16_t, uint16_t> lns_next_ns_;  // by our tunnel id
};

}  // namespace vpn::l2tp::fuzzing
