// clientsim-fakeserver: the FakeConcentrator (our responder, LNS and PPP
// server libraries plus a fake ESP dataplane and LAN echo host) on two real
// UDP sockets, for loopback tests of vpn-clientsim and for measuring the
// control-plane libraries' connect rate without a dataplane.
//
//   clientsim-fakeserver --listen 127.0.0.1 --ike-port 20500 --natt-port 24500
//                        [--lan-host 100.64.255.10] [--max-time 60]
//
// Prints "fakeserver: ready" once listening; on exit (SIGTERM, --max-time)
// prints its counters.
#include <arpa/inet.h>
#include <getopt.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/numbers.h"
#include "event_loop.h"
#include "fake_concentrator.h"
#include "vpn/log.h"

namespace {

volatile sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

int Bind(uint32_t ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int buf = 1 << 21;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::fprintf(stderr, "fakeserver: bind port %u: %s\n", port, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vpn;
  using clientsim::ParseIpv4Address;
  uint32_t listen = 0x7F000001, lan_host = 0x64400A0A;  // 127.0.0.1, 100.64.10.10
  int ike_port = 0, natt_port = 0;
  double max_time = 120;
  static const option longopts[] = {{"listen", 1, nullptr, 'l'},   {"ike-port", 1, nullptr, 'i'},
                                    {"natt-port", 1, nullptr, 'n'}, {"lan-host", 1, nullptr, 'h'},
                                    {"max-time", 1, nullptr, 't'}, {"verbose", 0, nullptr, 'v'},
                                    {nullptr, 0, nullptr, 0}};
  int opt;
  bool verbose = false;
  while ((opt = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
    std::string arg = optarg ? optarg : "";
    bool ok = true;
    switch (opt) {
      case 'l': ok = ParseIpv4Address(arg).has_value(); if (ok) listen = *ParseIpv4Address(arg); break;
      case 'h': ok = ParseIpv4Address(arg).has_value(); if (ok) lan_host = *ParseIpv4Address(arg); break;
      case 'i': ok = absl::SimpleAtoi(arg, &ike_port); break;
      case 'n': ok = absl::SimpleAtoi(arg, &natt_port); break;
      case 't': ok = absl::SimpleAtod(arg, &max_time); break;
      case 'v': verbose = true; break;
      default: ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "usage: clientsim-fakeserver --ike-port P --natt-port P [--listen IP] "
                           "[--lan-host IP] [--max-time S] [--verbose]\n");
      return 2;
    }
  }
  if (ike_port <= 0 || natt_port <= 0 || ike_port > 65535 || natt_port > 65535) {
    std::fprintf(stderr, "fakeserver: --ike-port and --natt-port are required\n");
    return 2;
  }
  if (!verbose)
    for (auto s : {log::Subsystem::k_ike, log::Subsystem::k_l2tp, log::Subsystem::k_ppp,
                   log::Subsystem::k_auth})
      log::SetLevel(s, log::Level::kWarn);

  // Seed 004 parameters with a pool big enough for scale runs.
  config::Config cfg;
  cfg.ike.psk = "secret123";
  cfg.ike.proposals = {"aes256-sha1-modp2048", "aes128-sha1-ecp256", "aes256-sha1-ecp384"};
  cfg.ike.esp_proposals = {"aes128-sha1", "aes256-sha1", "aes128gcm16"};
  cfg.ike.half_open_per_source = 100000;  // every client shares the loopback address
  cfg.ike.half_open_total = 100000;
  cfg.ike.dpd_interval_s = 0;
  cfg.l2tp.hello_interval_s = 0;
  cfg.ppp.local_ip = 0x64400001;  // 100.64.0.1
  cfg.ppp.lcp_echo_interval_s = 0;
  cfg.pools.push_back({"main", 0x6440000A, 0x6440FFF0, 1});  // 100.64.0.10 - 100.64.255.240
  config::Group g;
  g.pool = "main";
  g.dns = {0x64400035};
  cfg.groups.push_back(g);
  config::User u;
  u.name = "user-01";
  u.password = "password123";
  cfg.users.push_back(u);

  cp::EventLoop loop;
  esp::Engine engine;
  if (!engine.Init()) return 2;
  clientsim::testing::FakeConcentrator server(loop, engine, cfg, listen, lan_host);
  int fds[2] = {Bind(listen, uint16_t(ike_port)), Bind(listen, uint16_t(natt_port))};
  if (fds[0] < 0 || fds[1] < 0) return 2;
  const uint16_t ports[2] = {clientsim::kIkePort, clientsim::kNatTPort};
  server.to_client = [&](uint32_t ip, uint16_t port, uint16_t src_port, clientsim::ByteSpan d) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(ip);
    to.sin_port = htons(port);
    sendto(fds[src_port == clientsim::kNatTPort ? 1 : 0], d.data(), d.size(), 0,
           reinterpret_cast<sockaddr*>(&to), sizeof to);
  };
  for (int k = 0; k < 2; ++k) {
    const int fd = fds[k];
    const uint16_t as_port = ports[k];
    auto st = loop.WatchReadable(fd, [&server, fd, as_port] {
      uint8_t buf[65536];
      for (int i = 0; i < 256; ++i) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) return;
        server.Receive(ntohl(from.sin_addr.s_addr), ntohs(from.sin_port), as_port,
                       clientsim::ByteSpan(buf, size_t(n)));
      }
    });
    if (!st.ok()) return 2;
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  const absl::Time end = absl::Now() + absl::Seconds(max_time);
  std::function<void()> tick = [&] {
    if (g_stop || absl::Now() > end) return loop.Stop();
    loop.Schedule(absl::Milliseconds(100), tick);
  };
  loop.Schedule(absl::Milliseconds(100), tick);
  std::printf("fakeserver: ready on %s ports %d/%d\n", clientsim::Ipv4ToString(listen).c_str(),
              ike_port, natt_port);
  std::fflush(stdout);
  loop.Run();
  const auto& s = server.stats();
  std::printf("fakeserver: ike_in=%lu ike_out=%lu esp_in=%lu esp_out=%lu esp_drops=%lu "
              "network_up=%lu sessions_down=%lu echo_answered=%lu udp_answered=%lu "
              "ike_sas_left=%zu tunnels_left=%zu\n",
              (unsigned long)s.ike_in, (unsigned long)s.ike_out, (unsigned long)s.esp_in,
              (unsigned long)s.esp_out, (unsigned long)s.esp_drops, (unsigned long)s.network_up,
              (unsigned long)s.sessions_down, (unsigned long)s.lan_echo_answered,
              (unsigned long)s.lan_udp_answered, server.responder().ike_sa_count(),
              server.lns().tunnel_count());
  close(fds[0]);
  close(fds[1]);
  return 0;
}
