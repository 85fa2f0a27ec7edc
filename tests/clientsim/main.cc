// vpn-clientsim: simulated L2TP/IPsec clients (docs/clientsim.md).
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "proposal.h"
#include "runner.h"
#include "vpn/log.h"

namespace {

using vpn::clientsim::ParseIpv4Address;
using vpn::clientsim::RunnerOptions;
using vpn::clientsim::TrafficSettings;

const char kUsage[] =
    "usage: vpn-clientsim --server IP [options]\n"
    "  --server IP            concentrator's public address (IKE 500/4500)\n"
    "  --clients N            simulated clients (default 1)\n"
    "  --rate R[/s]           client starts per second (default 10)\n"
    "  --source IP[,IP...]    source addresses, round robin (default: route's source)\n"
    "  --base-port P          client i uses port P + i/len(sources) (default: ephemeral)\n"
    "  --user U --password P  PPP credentials (default user-01 / password123)\n"
    "  --auth LIST            PPP methods we accept: mschapv2,mschapv1,chap,pap,eap-md5\n"
    "  --psk K                IKE pre-shared key (default secret123)\n"
    "  --ike-proposals LIST   e.g. aes256-sha1-modp2048,... (default: Windows 11's list)\n"
    "  --esp LIST             ESP proposals (default aes128-sha1)\n"
    "  --ping IP              ICMP echo to IP on the LAN side once PPP is up\n"
    "  --udp IP[:PORT]        UDP datagrams to an echo service instead (default port 7)\n"
    "  --count C              packets per client (default 3 with --ping/--udp)\n"
    "  --interval MS          between packets (default 200)\n"
    "  --size B               ICMP data / UDP payload bytes (default 56)\n"
    "  --traffic-delay S      wait S seconds after IPCP up before sending (default 0)\n"
    "  --reply-wait S         wait for replies after the last packet (default 3)\n"
    "  --hold SECONDS         stay connected after the traffic (default 0)\n"
    "  --sample N             only every N-th client sends the traffic (default 1: all)\n"
    "  --traffic-after-ramp   hold every client until all are up or failed, then the\n"
    "                         sample sends its traffic, then all hold --hold seconds\n"
    "                         and tear down (session-scale benchmark)\n"
    "  --progress SECONDS     print a progress line this often\n"
    "  --max-connecting P     closed loop: start a client only while fewer than P are\n"
    "                         connecting (--rate is then the upper bound)\n"
    "  --timeout SECONDS      connect timeout per client (default 60)\n"
    "  --max-time SECONDS     stop everything after this (default: derived)\n"
    "  --l2tp-port P          our L2TP UDP port inside ESP (default 1701)\n"
    "  --ike-port P --natt-port P  the server's UDP ports (default 500, 4500)\n"
    "  --json FILE            write the summary and per-client results as JSON\n"
    "  --quiet                no per-client lines\n"
    "  --debug SUBSYS=LEVEL   log level (ike, l2tp, ppp, esp; error..data), repeatable\n"
    "Last line: 'clientsim: N connected, M failed'; exit 0 only if every client\n"
    "connected and its traffic got all replies.\n";

bool ParseSeconds(const char* s, absl::Duration* out) {
  double v;
  if (!absl::SimpleAtod(s, &v) || v < 0) return false;
  *out = absl::Seconds(v);
  return true;
}

bool ParseAuth(const std::string& list, std::vector<vpn::config::AuthMethod>* out) {
  using vpn::config::AuthMethod;
  out->clear();
  for (absl::string_view m : absl::StrSplit(list, ',')) {
    if (m == "mschapv2") out->push_back(AuthMethod::kMschapV2);
    else if (m == "mschapv1") out->push_back(AuthMethod::kMschapV1);
    else if (m == "chap") out->push_back(AuthMethod::kChap);
    else if (m == "pap") out->push_back(AuthMethod::kPap);
    else if (m == "eap-md5") out->push_back(AuthMethod::kEapMd5);
    else return false;
  }
  return !out->empty();
}

int Bad(const char* what) {
  std::fprintf(stderr, "vpn-clientsim: %s\n%s", what, kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  RunnerOptions o;
  auto& c = o.client;
  c.ike.psk = "secret123";
  c.ike.proposals = vpn::ike::Windows11IkeProposals();
  c.ike.esp_proposals = {"aes128-sha1"};
  c.l2tp.hostname = "vpn-clientsim";
  c.ppp.user = "user-01";
  c.ppp.password = "password123";
  bool have_server = false, have_count = false;
  // The libraries log every SA at info; the per-client lines say enough.
  for (auto sub : {vpn::log::Subsystem::k_ike, vpn::log::Subsystem::k_l2tp,
                   vpn::log::Subsystem::k_ppp, vpn::log::Subsystem::k_auth})
    vpn::log::SetLevel(sub, vpn::log::Level::kWarn);

  enum {
    kServer = 1000, kClients, kRate, kSource, kBasePort, kUser, kPassword, kAuth, kPsk,
    kIke, kEsp, kPing, kUdp, kCount, kInterval, kSize, kHold, kTimeout, kMaxTime,
    kL2tpPort, kJson, kQuiet, kDebug, kHelp, kTrafficDelay, kReplyWait, kIkePortOpt, kNattPortOpt,
    kSample, kAfterRamp, kProgress, kMaxConnecting
  };
  static const option longopts[] = {
      {"server", 1, nullptr, kServer},     {"clients", 1, nullptr, kClients},
      {"rate", 1, nullptr, kRate},         {"source", 1, nullptr, kSource},
      {"base-port", 1, nullptr, kBasePort}, {"user", 1, nullptr, kUser},
      {"password", 1, nullptr, kPassword}, {"auth", 1, nullptr, kAuth},
      {"psk", 1, nullptr, kPsk},           {"ike-proposals", 1, nullptr, kIke},
      {"esp", 1, nullptr, kEsp},           {"ping", 1, nullptr, kPing},
      {"udp", 1, nullptr, kUdp},           {"count", 1, nullptr, kCount},
      {"interval", 1, nullptr, kInterval}, {"size", 1, nullptr, kSize},
      {"hold", 1, nullptr, kHold},         {"timeout", 1, nullptr, kTimeout},
      {"max-time", 1, nullptr, kMaxTime},  {"l2tp-port", 1, nullptr, kL2tpPort},
      {"json", 1, nullptr, kJson},         {"quiet", 0, nullptr, kQuiet},
      {"debug", 1, nullptr, kDebug},       {"help", 0, nullptr, kHelp},
      {"traffic-delay", 1, nullptr, kTrafficDelay}, {"reply-wait", 1, nullptr, kReplyWait},
      {"ike-port", 1, nullptr, kIkePortOpt}, {"natt-port", 1, nullptr, kNattPortOpt},
      {"sample", 1, nullptr, kSample},     {"traffic-after-ramp", 0, nullptr, kAfterRamp},
      {"progress", 1, nullptr, kProgress}, {"max-connecting", 1, nullptr, kMaxConnecting},
      {nullptr, 0, nullptr, 0}};
  int opt;
  while ((opt = getopt_long(argc, argv, "", longopts, nullptr)) != -1) {
    const std::string arg = optarg ? optarg : "";
    int n = 0;
    switch (opt) {
      case kServer: {
        auto ip = ParseIpv4Address(arg);
        if (!ip) return Bad("--server: not an IPv4 address");
        c.server_ip = *ip;
        have_server = true;
        break;
      }
      case kClients:
        if (!absl::SimpleAtoi(arg, &o.clients) || o.clients < 1 || o.clients > 200000)
          return Bad("--clients: 1..200000");
        break;
      case kRate: {
        std::string r = arg;
        if (r.size() > 2 && r.substr(r.size() - 2) == "/s") r.resize(r.size() - 2);
        if (!absl::SimpleAtod(r, &o.rate) || o.rate <= 0) return Bad("--rate: R or R/s, R > 0");
        break;
      }
      case kSource:
        for (absl::string_view a : absl::StrSplit(arg, ',')) {
          auto ip = ParseIpv4Address(std::string(a));
          if (!ip) return Bad("--source: IPv4 addresses");
          o.sources.push_back(*ip);
        }
        break;
      case kBasePort:
        if (!absl::SimpleAtoi(arg, &n) || n < 1024 || n > 65000) return Bad("--base-port: 1024..65000");
        o.base_port = uint16_t(n);
        break;
      case kUser: c.ppp.user = arg; break;
      case kPassword: c.ppp.password = arg; break;
      case kAuth:
        if (!ParseAuth(arg, &c.ppp.methods)) return Bad("--auth: mschapv2,mschapv1,chap,pap,eap-md5");
        break;
      case kPsk: c.ike.psk = arg; break;
      case kIke: c.ike.proposals = absl::StrSplit(arg, ','); break;
      case kEsp: c.ike.esp_proposals = absl::StrSplit(arg, ','); break;
      case kPing:
      case kUdp: {
        std::vector<std::string> hp = absl::StrSplit(arg, ':');
        auto ip = ParseIpv4Address(hp[0]);
        if (!ip || hp.size() > 2) return Bad("--ping/--udp: IPv4 address");
        c.traffic.target = *ip;
        c.traffic.kind = opt == kPing ? TrafficSettings::Kind::kPing : TrafficSettings::Kind::kUdp;
        if (hp.size() == 2) {
          if (!absl::SimpleAtoi(hp[1], &n) || n < 1 || n > 65535) return Bad("--udp: bad port");
          c.traffic.udp_port = uint16_t(n);
        }
        break;
      }
      case kCount:
        if (!absl::SimpleAtoi(arg, &c.traffic.count) || c.traffic.count < 0 || c.traffic.count > 65000)
          return Bad("--count: 0..65000");
        have_count = true;
        break;
      case kInterval:
        if (!absl::SimpleAtoi(arg, &n) || n < 1) return Bad("--interval: milliseconds >= 1");
        c.traffic.interval = absl::Milliseconds(n);
        break;
      case kSize:
        if (!absl::SimpleAtoi(arg, &n) || n < 2 || n > 1400) return Bad("--size: 2..1400");
        c.traffic.size = size_t(n);
        break;
      case kTrafficDelay:
        if (!ParseSeconds(optarg, &c.traffic.start_delay)) return Bad("--traffic-delay: seconds");
        break;
      case kReplyWait:
        if (!ParseSeconds(optarg, &c.traffic.reply_wait)) return Bad("--reply-wait: seconds");
        break;
      case kHold:
        if (!ParseSeconds(optarg, &c.hold)) return Bad("--hold: seconds");
        break;
      case kTimeout:
        if (!ParseSeconds(optarg, &c.connect_timeout)) return Bad("--timeout: seconds");
        break;
      case kMaxTime:
        if (!ParseSeconds(optarg, &o.max_time)) return Bad("--max-time: seconds");
        break;
      case kL2tpPort:
        if (!absl::SimpleAtoi(arg, &n) || n < 1 || n > 65535) return Bad("--l2tp-port");
        c.l2tp_port = uint16_t(n);
        break;
      case kIkePortOpt:
      case kNattPortOpt:
        if (!absl::SimpleAtoi(arg, &n) || n < 1 || n > 65535) return Bad("--ike-port/--natt-port");
        (opt == kIkePortOpt ? c.ike_port : c.natt_port) = uint16_t(n);
        break;
      case kSample:
        if (!absl::SimpleAtoi(arg, &o.sample_every) || o.sample_every < 1)
          return Bad("--sample: N >= 1");
        break;
      case kAfterRamp: o.traffic_after_ramp = true; break;
      case kProgress:
        if (!ParseSeconds(optarg, &o.progress)) return Bad("--progress: seconds");
        break;
      case kMaxConnecting:
        if (!absl::SimpleAtoi(arg, &o.max_connecting) || o.max_connecting < 1)
          return Bad("--max-connecting: P >= 1");
        break;
      case kJson: o.json_path = arg; break;
      case kQuiet: o.per_client_lines = false; break;
      case kDebug: {
        std::vector<std::string> kv = absl::StrSplit(arg, '=');
        vpn::log::Subsystem s;
        vpn::log::Level l;
        if (kv.size() != 2 || !vpn::log::ParseSubsystem(kv[0], &s) || !vpn::log::ParseLevel(kv[1], &l))
          return Bad("--debug SUBSYS=LEVEL");
        vpn::log::SetLevel(s, l);
        break;
      }
      case kHelp: std::fputs(kUsage, stdout); return 0;
      default: return Bad("unknown option");
    }
  }
  if (optind < argc) return Bad("unexpected argument");
  if (!have_server) return Bad("--server is required");
  if (c.ike_port == c.natt_port) return Bad("--ike-port and --natt-port must differ");
  if (c.traffic.kind != TrafficSettings::Kind::kNone && !have_count) c.traffic.count = 3;
  if (o.traffic_after_ramp) o.hold_after_ramp = c.hold;
  if (auto st = vpn::ike::ParseIkeSuites(c.ike.proposals); !st.ok())
    return Bad(std::string(st.status().message()).c_str());
  if (auto st = vpn::ike::ParseEspSuites(c.ike.esp_proposals); !st.ok())
    return Bad(std::string(st.status().message()).c_str());
  vpn::clientsim::Runner runner(std::move(o));
  return runner.Run();
}
