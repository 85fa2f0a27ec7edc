// The LNS with real PPP servers behind it (controlplane/l2tp lns*.cc +
// controlplane/ppp server_session.cc, pools, LocalAuthenticator), as the
// daemon runs them: our LAC + PPP client bring a tunnel and a call up over
// an in-process queue, then the fuzzer mixes garbage PPP frames into the
// session, clock jumps, message delivery, new calls, and every way a session
// ends (IPsec SA loss, rekey, operator close, client close, shutdown).
//
// Setup byte: bits 0-2 method (PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2,
// EAP-MD5), bit 3 wrong password, bit 4 run PPP to the Network phase before
// the records (otherwise only until the call is up).
//
// Records (records.h), kinds modulo 5:
//   0 PPP frame for the current LNS session (as the dataplane punts it)
//   1 advance the clock by u16 x 100 ms (at most ~2 h per record)
//   2 action(1): 0 SA deleted, 1 SA rekeyed, 2 LNS closes the tunnel,
//     3 LNS closes the session, 4 LNS shuts down, 5 client closes the
//     tunnel, 6 client drops the call
//   3 deliver up to u8 queued L2TP messages (both directions)
//   4 the client opens another call (PPP as in the setup)
//
// Checks: no address is leased to two live sessions; every PPP server
// reports its end once; after shutdown and ten minutes nothing is left:
// no tunnel, session, address lease or user slot.
#include <arpa/inet.h>

#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "address_pool.h"
#include "authenticator.h"
#include "client_session.h"
#include "fuzz_common.h"
#include "lac.h"
#include "lns.h"
#include "records.h"
#include "server_session.h"
#include "timer_queue.h"
#include "wire.h"

namespace vpn::fuzzing {
namespace {

using config::AuthMethod;
using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;
using Bytes = std::vector<uint8_t>;

constexpr AuthMethod kMethods[] = {AuthMethod::kPap, AuthMethod::kChap,
                                   AuthMethod::kMschapV1, AuthMethod::kMschapV2,
                                   AuthMethod::kEapMd5};

config::Config StackConfig(AuthMethod m) {
  config::Config c;
  c.l2tp.hello_interval_s = 60;
  c.ppp.local_ip = 0x64400001;
  c.ppp.auth_failure_delay_ms = 500;
  c.pools.push_back({"p", 0x6440000a, 0x6440000c, 1});  // three addresses
  config::Group g;
  g.pool = "p";
  g.auth = {m};
  g.idle_timeout_s = 300;
  g.session_timeout_s = 3600;
  g.max_sessions_per_user = 2;
  c.groups.push_back(g);
  config::User u;
  u.name = "alice";
  u.password = "alice-pw";
  c.users.push_back(u);
  return c;
}

struct ServerRecord {
  std::optional<uint32_t> ip;  // while up
  int downs = 0;
  bool destroyed = false;
  cp::L2tpSessionInfo info;
};

// The daemon's PinnedPppEndpoint: owns the session, starts it once attached.
class OwnedServer : public cp::PppEndpoint {
 public:
  OwnedServer(std::unique_ptr<ppp::ServerSession> s, std::shared_ptr<ServerRecord> rec,
              cp::TimerQueue& timers)
      : s_(std::move(s)), rec_(std::move(rec)), alive_(std::make_shared<bool>()) {
    ppp::ServerSession* raw = s_.get();
    std::weak_ptr<bool> alive = alive_;
    timers.Schedule(absl::ZeroDuration(), [raw, alive] {
      if (!alive.expired()) raw->Start();
    });
  }
  ~OwnedServer() override { rec_->destroyed = true; }
  void OnPppFrame(std::span<const uint8_t> f) override { s_->OnPppFrame(f); }
  void OnLinkDown(std::string_view r) override { s_->OnLinkDown(r); }

 private:
  std::unique_ptr<ppp::ServerSession> s_;
  std::shared_ptr<ServerRecord> rec_;
  std::shared_ptr<bool> alive_;
};

class OwnedClient : public cp::PppEndpoint {
 public:
  OwnedClient(std::unique_ptr<ppp::ClientSession> s, cp::TimerQueue& timers)
      : s_(std::move(s)), alive_(std::make_shared<bool>()) {
    ppp::ClientSession* raw = s_.get();
    std::weak_ptr<bool> alive = alive_;
    timers.Schedule(absl::ZeroDuration(), [raw, alive] {
      if (!alive.expired()) raw->Start();
    });
  }
  void OnPppFrame(std::span<const uint8_t> f) override { s_->OnPppFrame(f); }
  void OnLinkDown(std::string_view r) override { s_->OnLinkDown(r); }

 private:
  std::unique_ptr<ppp::ClientSession> s_;
  std::shared_ptr<bool> alive_;
};

class Stack {
 public:
  explicit Stack(uint8_t setup)
      : method_(kMethods[(setup & 7) % 5]),
        cfg_(StackConfig(method_)),
        wrong_password_(setup & 0x08),
        auth_(cfg_) {
    auto r = ppp::PoolRegistry::Create(cfg_);
    FUZZ_CHECK(r.ok());
    pools_ = *std::move(r);
    binding_.sa_index = 7;
    binding_.peer_ip = htonl(0xC612000A);
    binding_.peer_port = 1701;
    binding_.local_ip = htonl(0xC6120001);
    lns_ = std::make_unique<l2tp::Lns>(
        cfg_.l2tp, timers_, lns_side_,
        [this](cp::PppLink& link, const cp::L2tpSessionInfo& info)
            -> std::unique_ptr<cp::PppEndpoint> {
          auto rec = std::make_shared<ServerRecord>();
          rec->info = info;
          servers_.push_back(rec);
          ppp::ServerCallbacks cb;
          cb.on_network_up = [this, rec](const ppp::NetworkUp& up) {
            for (const auto& o : servers_)
              FUZZ_CHECK(o == rec || !o->ip || *o->ip != up.ip);
            rec->ip = up.ip;
          };
          cb.on_down = [rec](std::string_view) {
            ++rec->downs;
            FUZZ_CHECK(rec->downs == 1);
            rec->ip.reset();
          };
          cb.traffic_counter = [] { return uint64_t(0); };
          auto s = std::make_unique<ppp::ServerSession>(link, timers_, cfg_, *pools_,
                                                        auth_, "fuzz", std::move(cb));
          return std::make_unique<OwnedServer>(std::move(s), rec, timers_);
        });
    lac_ = std::make_unique<l2tp::Lac>(cfg_.l2tp, timers_, lac_side_, l2tp::PeerBinding{});
    if (lac_->OpenTunnel().ok()) {
      Settle([&] { return lac_->tunnel_state() == l2tp::LacTunnelState::kEstablished; });
    }
    Call();
    if (setup & 0x10) {
      Settle([&] {
        return !servers_.empty() && (servers_.back()->ip || servers_.back()->downs);
      });
    } else {
      Settle([&] { return !servers_.empty(); });
    }
  }

  ~Stack() {
    // Shutdown: everything must go, whatever the records did.
    lns_->CloseAll("fuzz: shutdown");
    for (int i = 0; i < 600; ++i) {
      Deliver(64);
      timers_.Advance(absl::Seconds(1));
    }
    lac_.reset();
    queue_.clear();
    timers_.Advance(absl::Minutes(10));
    FUZZ_CHECK(lns_->tunnel_count() == 0);
    FUZZ_CHECK(lns_->session_count() == 0);
    for (const auto& s : servers_) FUZZ_CHECK(s->destroyed && s->downs <= 1);
    FUZZ_CHECK(pools_->leased() == 0);
    FUZZ_CHECK(pools_->SessionsOf("alice") == 0);
    lns_.reset();
  }

  void Run(const Record& r) {
    Cursor c(r.data);
    switch (r.kind % 5) {
      case 0:
        if (!servers_.empty()) {
          const cp::L2tpSessionInfo& i = servers_.back()->info;
          lns_->DeliverPppFrame(binding_, i.local_tunnel_id, i.local_session_id, r.data);
        }
        break;
      case 1:
        timers_.Advance(absl::Milliseconds(100) * c.U16());
        break;
      case 2:
        Action(c.U8());
        break;
      case 3:
        Deliver(c.U8());
        break;
      case 4:
        Call();
        break;
    }
  }

 private:
  class LnsSide : public l2tp::Transport {
   public:
    explicit LnsSide(Stack* s) : s_(s) {}
    void SendL2tp(const l2tp::PeerBinding&, std::span<const uint8_t> m) override {
      s_->queue_.push_back({false, Bytes(m.begin(), m.end())});
    }

   private:
    Stack* s_;
  };
  class LacSide : public l2tp::Transport {
   public:
    explicit LacSide(Stack* s) : s_(s) {}
    void SendL2tp(const l2tp::PeerBinding&, std::span<const uint8_t> m) override {
      s_->queue_.push_back({true, Bytes(m.begin(), m.end())});
    }

   private:
    Stack* s_;
  };
  struct Msg {
    bool to_lns;
    Bytes bytes;
  };

  template <typename Pred>
  void Settle(Pred done) {
    for (int i = 0; i < 600 && !done(); ++i) {
      Deliver(64);
      timers_.Advance(absl::Milliseconds(100));
    }
  }

  void Deliver(int max) {
    for (int n = 0; n < max && !queue_.empty(); ++n) {
      Msg m = std::move(queue_.front());
      queue_.pop_front();
      l2tp::Header h;
      const bool control = l2tp::ParseHeader(m.bytes, &h) == l2tp::HeaderError::kOk && h.control;
      if (m.to_lns) {
        if (control) lns_->OnControlMessage(binding_, m.bytes);
        else lns_->OnDataMessage(binding_, m.bytes);
      } else if (lac_) {
        if (control) lac_->OnControlMessage(m.bytes);
        else lac_->OnDataMessage(m.bytes);
      }
    }
  }

  void Call() {
    if (!lac_ || lac_->tunnel_state() != l2tp::LacTunnelState::kEstablished) return;
    ppp::ClientSettings cs;
    cs.user = "alice";
    cs.password = wrong_password_ ? "guess" : "alice-pw";
    cs.methods = {method_};
    cs.echo_interval_s = 20;
    auto sid = lac_->OpenSession(
        [this, cs](cp::PppLink& link, const cp::L2tpSessionInfo&)
            -> std::unique_ptr<cp::PppEndpoint> {
          auto s = std::make_unique<ppp::ClientSession>(link, timers_, cs,
                                                        ppp::ClientCallbacks{});
          return std::make_unique<OwnedClient>(std::move(s), timers_);
        });
    if (sid.ok()) last_call_ = *sid;
  }

  void Action(uint8_t what) {
    const cp::L2tpSessionInfo* i = servers_.empty() ? nullptr : &servers_.back()->info;
    switch (what % 7) {
      case 0:
        lns_->OnSaDeleted(binding_.sa_index);
        break;
      case 1: {
        const uint32_t next = binding_.sa_index + 1;
        lns_->RebindSa(binding_.sa_index, next);
        lns_->OnSaDeleted(binding_.sa_index);
        binding_.sa_index = next;
        break;
      }
      case 2:
        if (i) (void)lns_->CloseTunnel({.local_id = i->local_tunnel_id}, "fuzz: operator");
        break;
      case 3:
        if (i) (void)lns_->CloseSession(i->local_tunnel_id, i->local_session_id, "fuzz");
        break;
      case 4:
        lns_->CloseAll("fuzz: all");
        break;
      case 5:
        if (lac_) lac_->CloseTunnel("fuzz: client");
        break;
      case 6:
        if (lac_) (void)lac_->CloseSession(last_call_, "fuzz: hang up");
        break;
    }
  }

  const AuthMethod method_;
  const config::Config cfg_;
  const bool wrong_password_;
  cp::ManualTimerQueue timers_;
  ppp::LocalAuthenticator auth_;
  std::unique_ptr<ppp::PoolRegistry> pools_;
  LnsSide lns_side_{this};
  LacSide lac_side_{this};
  l2tp::PeerBinding binding_;
  std::deque<Msg> queue_;
  std::vector<std::shared_ptr<ServerRecord>> servers_;
  std::unique_ptr<l2tp::Lns> lns_;
  std::unique_ptr<l2tp::Lac> lac_;
  uint16_t last_call_ = 0;
};

}  // namespace
}  // namespace vpn::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  vpn::fuzzing::Stack stack(in.Setup());
  vpn::fuzz::Record r;
  while (in.Next(&r)) stack.Run(r);
  return 0;
}
