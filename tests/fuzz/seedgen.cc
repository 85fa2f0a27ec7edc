// fuzz_seedgen OUTDIR [CONFIG_DIR]: writes the seed corpus of every fuzz
// target under OUTDIR/<target>/ (see seedgen.h). The ESP and pipeline seeds
// are plaintext: the targets seal them with their fixed SA keys.
#include "seedgen.h"

#include <cstdio>

#include "vpn/config.h"
#include "vpn/log.h"

namespace vpn::fuzz::seedgen {
namespace {

// A minimal IPv4 header with a correct checksum (RFC 791).
Bytes Ipv4(const Bytes& src, const Bytes& dst, uint8_t proto, const Bytes& l4,
           uint16_t frag = 0) {
  Bytes ip = {0x45, 0, 0, 0, 0, 1, uint8_t(frag >> 8), uint8_t(frag), 64, proto, 0, 0};
  const uint16_t len = uint16_t(20 + l4.size());
  ip[2] = uint8_t(len >> 8);
  ip[3] = uint8_t(len);
  ip.insert(ip.end(), src.begin(), src.end());
  ip.insert(ip.end(), dst.begin(), dst.end());
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += uint32_t(ip[i] << 8 | ip[i + 1]);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  ip[10] = uint8_t(~sum >> 8);
  ip[11] = uint8_t(~sum);
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

Bytes Udp(uint16_t sport, uint16_t dport, const Bytes& payload) {
  return Cat({Be16(sport), Be16(dport), Be16(uint16_t(8 + payload.size())), Be16(0), payload});
}

const Bytes kClient = {198, 18, 1, 10}, kWan = {198, 18, 0, 1};
const Bytes kHost = {10, 10, 0, 2}, kAssigned = {100, 64, 0, 5};
const Bytes kWanMac = {2, 0, 0, 0, 0, 1}, kLanMac = {2, 0, 0, 0, 0, 2};
const Bytes kGwMac = {2, 0, 0, 0, 0, 0xFE}, kHostMac = {2, 0, 0, 0, 0, 0x10};

Bytes Ether(const Bytes& dst, const Bytes& src, uint16_t type, const Bytes& payload) {
  return Cat({dst, src, Be16(type), payload});
}

Bytes Arp(const Bytes& sender_mac, const Bytes& sender_ip, const Bytes& target_ip) {
  return Ether(Bytes(6, 0xFF), sender_mac, 0x0806,
               Cat({Be16(1), Be16(0x0800), {6, 4}, Be16(1), sender_mac, sender_ip, Bytes(6, 0),
                    target_ip}));
}

// L2TP data (tunnel 100, session 200 as the pipeline target's session) + PPP.
Bytes L2tpData(uint16_t ppp_proto, const Bytes& payload) {
  return Cat({Be16(0x0002), Be16(100), Be16(200), {0xFF, 0x03}, Be16(ppp_proto), payload});
}

}  // namespace

void ConfigSeeds(Sink& s, const std::filesystem::path& config_dir) {
  const std::string def = config::kDefaultConfig;
  s.Write("config", "default.toml", ByteSpan(reinterpret_cast<const uint8_t*>(def.data()), def.size()));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(config_dir, ec)) {
    if (e.path().extension() != ".toml") continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    s.Write("config", e.path().filename().string(),
            ByteSpan(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
}

void EspSeeds(Sink& s) {
  const Bytes payload = Udp(1701, 1701, L2tpData(0x0021, Ipv4(kAssigned, kHost, 17, Udp(9, 9, Bytes(24, 0x5A)))));
  const size_t align[] = {16, 4, 8, 16};
  for (uint8_t suite = 0; suite < 4; ++suite) {
    Bytes pt = payload;
    uint8_t pad = 0;
    while ((payload.size() + pad + 2) % align[suite]) ++pad;
    for (uint8_t i = 1; i <= pad; ++i) pt.push_back(i);
    pt.push_back(pad);
    pt.push_back(17);
    auto rec = [&](uint32_t seq) { return Cat({Be32(seq), {0x3C}, pt}); };
    const std::string tag = "suite" + std::to_string(suite);
    s.Write("esp_decrypt", tag + "_one", RecordWriter(suite).Add(1, rec(1)));
    s.Write("esp_decrypt", tag + "_replay",
            RecordWriter(uint8_t(suite | 4)).Add(1, rec(1)).Add(1, rec(3)).Add(1, rec(3)).Add(1, rec(2)).Add(1, rec(200)).Add(1, rec(2)));
    s.Write("esp_decrypt", tag + "_lifetime",
            RecordWriter(uint8_t(suite | 8)).Add(1, rec(1)).Add(1, rec(2)).Add(1, rec(3)).Add(1, rec(4)).Add(1, rec(5)));
    Bytes bad_pad = pt;
    bad_pad[bad_pad.size() - 3] ^= 0x40;
    s.Write("esp_decrypt", tag + "_bad_pad", RecordWriter(suite).Add(1, Cat({Be32(9), {0}, bad_pad})));
    s.Write("esp_decrypt", tag + "_raw",
            RecordWriter(suite).Add(0, Cat({Be32(0x0A5A0003), Be32(1), Bytes(64, 0x33)})));
  }
}

void PipelineSeeds(Sink& s) {
  const Bytes inner_udp = Ipv4(kAssigned, kHost, 17, Udp(9, 9, Bytes(40, 0x5A)));
  const Bytes l2tp_ip = L2tpData(0x0021, inner_udp);
  const Bytes l2tp_lcp = L2tpData(0xC021, {9, 1, 0, 8, 0, 0, 0, 0});
  const Bytes l2tp_ctl = Cat({Be16(0xC802), Be16(20), Be16(0), Be16(0), Be16(0), Be16(0),
                              {0x80, 8, 0, 0, 0, 0, 0, 1}});
  const Bytes tcp_syn = Cat({Be16(40000), Be16(80), Be32(1), Be32(0), {0x60, 0x02}, Be16(65535),
                             Be16(0), Be16(0), {2, 4, 0x05, 0xB4}});
  const Bytes ike = Cat({Bytes(4, 0), Bytes(8, 0x11), Bytes(8, 0), {1, 0x10, 2, 0}, Be32(0), Be32(28)});
  const Bytes lan_udp = Cat({{17}, Udp(9, 9, Bytes(100, 0x6B))});
  const Bytes frag1 = Ether(kWanMac, kGwMac, 0x0800, Ipv4(kClient, kWan, 50, Bytes(48, 0x77), 0x2000));
  const Bytes frag2 = Ether(kWanMac, kGwMac, 0x0800, Ipv4(kClient, kWan, 50, Bytes(24, 0x78), 6));
  RecordWriter mixed(0);
  mixed.Add(3, Cat({{0}, l2tp_ip}))
      .Add(3, Cat({{0}, l2tp_lcp}))
      .Add(3, Cat({{0}, l2tp_ctl}))
      .Add(6, l2tp_ip)
      .Add(5, lan_udp)
      .Add(5, Cat({{6}, tcp_syn}))
      .Add(2, Cat({{1}, {8, 0, 0xF7, 0xFF, 0, 0, 0, 0}}))
      .Add(4, {0xFF})
      .Add(4, ike)
      .Add(1, Arp(kHostMac, kHost, kAssigned))
      .Add(0, Arp(kGwMac, {198, 18, 0, 254}, kWan))
      .Add(0, frag1)
      .Add(0, frag2);
  s.Write("dp_pipeline", "mixed", mixed);
  s.Write("dp_pipeline", "esp_l2tp", RecordWriter(0).Add(3, Cat({{0}, l2tp_ip})).Add(3, Cat({{2, 4}, l2tp_ip})));
  s.Write("dp_pipeline", "lan_to_client", RecordWriter(0).Add(5, lan_udp).Add(5, Cat({{6}, tcp_syn})));
  s.Write("dp_pipeline", "cleartext_l2tp", RecordWriter(0).Add(6, l2tp_ip).Add(6, l2tp_ctl).Add(6, l2tp_lcp));
}

}  // namespace vpn::fuzz::seedgen

int main(int argc, char** argv) {
  using namespace vpn::fuzz::seedgen;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUTDIR [CONFIG_DIR]\n", argv[0]);
    return 2;
  }
  vpn::log::SetSink([](vpn::log::Subsystem, vpn::log::Level, std::string_view) {});
  Sink s(argv[1]);
  IkeSeeds(s);
  L2tpSeeds(s);
  PppSeeds(s);
  if (argc > 2) ConfigSeeds(s, argv[2]);
  EspSeeds(s);
  PipelineSeeds(s);
  std::printf("fuzz_seedgen: %d seeds in %s\n", s.count(), argv[1]);
  return 0;
}
