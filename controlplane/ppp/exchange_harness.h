// Test harness: ClientSession <-> ServerSession back to back through fake
// PppLinks, on a ManualTimerQueue, with seeded loss and reordering. Several
// pairs can share one World (pools, authenticator, clock) to test limits.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "address_pool.h"
#include "authenticator.h"
#include "client_session.h"
#include "server_session.h"
#include "timer_queue.h"

namespace vpn::ppp::testing {

constexpr uint32_t Ip(int a, int b, int c, int d) {
  return uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | uint32_t(d);
}

struct World {
  explicit World(config::Config c) : config(std::move(c)), local_auth(config) {
    auto r = PoolRegistry::Create(config);
    if (!r.ok()) abort();
    pools = *std::move(r);
  }
  config::Config config;
  cp::ManualTimerQueue timers;
  std::unique_ptr<PoolRegistry> pools;
  LocalAuthenticator local_auth;
  Authenticator* auth = &local_auth;
  // Where the servers' idle timeouts read traffic; unset: Pair::traffic.
  std::function<uint64_t()> traffic_source;
};

struct Impairment {
  double loss = 0;     // probability a frame is dropped
  double reorder = 0;  // probability a frame is swapped with the next
  uint64_t seed = 1;
};

class Pair {
 public:
  // side 0 = server, 1 = client
  class Link : public cp::PppLink {
   public:
    Link(Pair* p, int side) : pair_(p), side_(side) {}
    void SendPppFrame(std::span<const uint8_t> f) override {
      pair_->queue_[side_].emplace_back(f.begin(), f.end());
      pair_->sent_[side_].emplace_back(f.begin(), f.end());
    }
    void ClosePppLink(std::string_view reason) override {
      closed = true;
      reason_ = std::string(reason);
      // The L2TP side sends CDN; the other end learns at the next step.
      pair_->pending_link_down_[1 - side_] = "CDN: " + reason_;
    }
    bool closed = false;
    std::string reason_;

   private:
    Pair* pair_;
    int side_;
  };

  Pair(World& w, ClientSettings cs, Impairment imp = {},
       std::string peer = "198.18.0.2:1701 t1 s1")
      : world_(w), imp_(imp), rng_(imp.seed), server_link_(this, 0),
        client_link_(this, 1) {
    ServerCallbacks scb;
    scb.on_address_committed = [this](const NetworkUp& u) {
      server_committed = u;
      ++commits;
      committed_before_up = !server_up;
    };
    scb.on_network_up = [this](const NetworkUp& u) { server_up = u; };
    scb.on_down = [this](std::string_view r) { server_down = std::string(r); };
    scb.traffic_counter = [this] {
      return world_.traffic_source ? world_.traffic_source() : traffic;
    };
    server = std::make_unique<ServerSession>(server_link_, w.timers, w.config,
                                             *w.pools, *w.auth, peer, scb);
    ClientCallbacks ccb;
    ccb.on_up = [this](const ClientUp& u) { client_up = u; };
    ccb.on_down = [this](std::string_view r) { client_down = std::string(r); };
    client = std::make_unique<ClientSession>(client_link_, w.timers,
                                             std::move(cs), ccb);
  }

  void Start() {
    server->Start();
    client->Start();
  }

  // One step: deliver what is queued (impaired), then let 10 ms pass.
  void Step() {
    for (int side = 0; side < 2; ++side) {
      if (!pending_link_down_[side].empty()) {
        std::string r = std::move(pending_link_down_[side]);
        pending_link_down_[side].clear();
        endpoint(side)->OnLinkDown(r);
      }
    }
    for (int from = 0; from < 2; ++from) {
      std::deque<Bytes> q = std::move(queue_[from]);
      queue_[from].clear();
      std::vector<Bytes> out(q.begin(), q.end());
      std::uniform_real_distribution<double> u(0, 1);
      for (size_t i = 0; i + 1 < out.size(); ++i)
        if (u(rng_) < imp_.reorder) std::swap(out[i], out[i + 1]);
      const int to = 1 - from;
      for (const Bytes& f : out) {
        if (u(rng_) < imp_.loss) continue;
        if (silence[from]) continue;
        if (drop && drop(from, f)) continue;
        if (link(to).closed || link(from).closed) continue;
        endpoint(to)->OnPppFrame(f);
      }
    }
    world_.timers.Advance(absl::Milliseconds(10));
  }

  // Runs until `done` or `limit` of simulated time passed; true if done.
  template <typename Pred>
  bool RunUntil(Pred done, absl::Duration limit) {
    const absl::Time end = world_.timers.Now() + limit;
    while (world_.timers.Now() < end) {
      if (done()) return true;
      Step();
    }
    return done();
  }
  bool RunUntilUp(absl::Duration limit = absl::Seconds(60)) {
    return RunUntil([&] { return server_up && client_up; }, limit);
  }
  bool RunUntilBothDown(absl::Duration limit = absl::Seconds(120)) {
    return RunUntil([&] { return server_down && client_down; }, limit);
  }
  void RunFor(absl::Duration d) {
    RunUntil([] { return false; }, d);
  }

  cp::PppEndpoint* endpoint(int side) {
    return side == 0 ? static_cast<cp::PppEndpoint*>(server.get())
                     : static_cast<cp::PppEndpoint*>(client.get());
  }
  Link& link(int side) { return side == 0 ? server_link_ : client_link_; }
  const std::vector<Bytes>& sent(int side) const { return sent_[side]; }
  // Frames of `protocol` and `code` sent by `side`.
  int CountSent(int side, uint16_t protocol, int code = -1) const {
    int n = 0;
    for (const Bytes& f : sent_[side])
      if (f.size() >= 3 && ReadU16(f, 0) == protocol && (code < 0 || f[2] == code)) ++n;
    return n;
  }

  std::unique_ptr<ServerSession> server;
  std::unique_ptr<ClientSession> client;
  std::optional<NetworkUp> server_up;
  std::optional<NetworkUp> server_committed;  // ServerCallbacks::on_address_committed
  int commits = 0;
  bool committed_before_up = false;
  // Return true to lose a frame sent by side `from` (0 = server).
  std::function<bool(int from, const Bytes& frame)> drop;
  std::optional<ClientUp> client_up;
  std::optional<std::string> server_down, client_down;
  uint64_t traffic = 0;
  bool silence[2] = {false, false};  // drop everything sent by that side

 private:
  World& world_;
  Impairment imp_;
  std::mt19937_64 rng_;
  Link server_link_, client_link_;
  std::deque<Bytes> queue_[2];
  std::vector<Bytes> sent_[2];
  std::string pending_link_down_[2];
};

// The small world the robustness test, the ppp_session fuzz target and its
// seed generator share: three pool addresses (so exhaustion is reachable),
// one user "alice", `m` as the group's method. Seeds stay valid for the fuzz
// target because both are built from this one definition.
inline config::Config SmallWorldConfig(config::AuthMethod m) {
  config::Config c;
  c.ppp.local_ip = Ip(100, 64, 0, 1);
  c.ppp.auth_failure_delay_ms = 200;
  c.pools.push_back({"main", Ip(100, 64, 0, 10), Ip(100, 64, 0, 12), 1});
  config::Group g;
  g.pool = "main";
  g.dns = {Ip(10, 0, 0, 53)};
  g.auth = {m};
  c.groups.push_back(g);
  config::User u;
  u.name = "alice";
  u.password = "alice-pw";
  c.users.push_back(u);
  return c;
}

// "alice" with method `m`, also asking for what we reject or leave out
// (IPV6CP, WINS) so those paths run.
inline ClientSettings SmallWorldClient(config::AuthMethod m) {
  ClientSettings s;
  s.user = "alice";
  s.password = "alice-pw";
  s.methods = {m};
  s.send_ipv6cp = true;
  s.ipcp.request_wins = true;
  return s;
}

}  // namespace vpn::ppp::testing
