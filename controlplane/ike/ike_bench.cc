// Micro benchmark: complete Main Mode + Quick Mode handshakes per second,
// in-process (our initiator against our responder, no NAT), next to the DH
// operations per second measured in the same run. One "DH op" = key
// generation + shared secret derivation (one side's work); a handshake costs
// two of them, one per side, plus hashing, HMACs and AES.
//
//   ike_bench [seconds_per_case]     (default 2)
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "test_net.h"
#include "vpn/log.h"

using namespace vpn;
using namespace vpn::ike;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double DhOpsPerSecond(DhGroup g, double budget) {
  auto peer = DiffieHellman::Create(g);
  if (!peer.ok()) return 0;
  Bytes pub = (*peer)->public_value();
  int n = 0;
  auto start = Clock::now();
  while (Seconds(start, Clock::now()) < budget && n < 1000000) {
    auto dh = DiffieHellman::Create(g);
    auto s = (*dh)->ComputeShared(pub);
    if (!s.ok()) std::abort();
    ++n;
  }
  return n / Seconds(start, Clock::now());
}

double HandshakesPerSecond(const std::string& ike, double budget, int* done) {
  cp::ManualTimerQueue timers;
  config::Ike server;
  server.psk = "secret123";
  server.proposals = {ike};
  server.esp_proposals = {"aes128-sha1"};
  server.half_open_total = 1u << 30;
  server.half_open_per_source = 1u << 30;
  config::Ike client = server;
  // Bounded: the server keeps every SA, so cap the count as well as time.
  int n = 0;
  auto start = Clock::now();
  while (Seconds(start, Clock::now()) < budget && n < 20000) {
    vpn::ike::testing::Net net(timers, server, false);
    for (int i = 0; i < 50; ++i) {
      auto& c = net.AddClient(client);
      if (!c.ike->Connect(c.local, net.server_ep).ok()) std::abort();
      net.Pump();
      if (c.sink.installed().size() != 1) std::abort();
      ++n;
    }
  }
  *done = n;
  return n / Seconds(start, Clock::now());
}

}  // namespace

int main(int argc, char** argv) {
  double budget = argc > 1 ? std::atof(argv[1]) : 2.0;
  if (budget <= 0 || budget > 60) budget = 2.0;
  log::SetLevel(log::Subsystem::k_ike, log::Level::kError);
  std::printf("%-22s %14s %16s %12s\n", "case", "handshakes/s", "DH ops/s (1 side)", "ratio");
  struct Case {
    const char* name;
    std::string ike;
    DhGroup group;
  } cases[] = {{"MM+QM modp2048", "aes256-sha1-modp2048", DhGroup::kModp2048},
               {"MM+QM ecp256", "aes128-sha256-ecp256", DhGroup::kEcp256}};
  for (const auto& c : cases) {
    double dh = DhOpsPerSecond(c.group, budget);
    int n = 0;
    double hs = HandshakesPerSecond(c.ike, budget, &n);
    std::printf("%-22s %14.1f %16.1f %11.2fx  (%d handshakes; ideal = DH/2 = %.1f)\n", c.name, hs,
                dh, dh / hs, n, dh / 2);
  }
  return 0;
}
