#include "traffic.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "esp.h"

namespace vpn::perf {
namespace {

void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

// RFC 1071 checksum over a buffer, as the value to store (host order).
uint16_t Checksum(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (; len > 1; p += 2, len -= 2) sum += uint32_t(p[0]) << 8 | p[1];
  if (len) sum += uint32_t(p[0]) << 8;
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return uint16_t(~sum);
}

void Ipv4Header(uint8_t* ip, uint32_t src_h, uint32_t dst_h, uint8_t proto, uint16_t total) {
  std::memset(ip, 0, 20);
  ip[0] = 0x45;
  Put16(ip + 2, total);
  ip[8] = 64;
  ip[9] = proto;
  Put32(ip + 12, src_h);
  Put32(ip + 16, dst_h);
  Put16(ip + 10, Checksum(ip, 20));
}

std::string Hex(const uint8_t* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, i ? ":%02x" : "%02x", p[i]);
    s += b;
  }
  return s;
}

std::string Dotted(uint32_t h) {
  char b[20];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u", h >> 24, (h >> 16) & 255, (h >> 8) & 255, h & 255);
  return b;
}

}  // namespace

void Plan::SaRec(uint32_t i, shm::SaDir dir, uint32_t replay_window, shm::SaRecord* out) const {
  shm::SaRecord& r = *out;
  r.state = shm::SlotState::kActive;
  r.dir = dir;
  r.cipher = shm::Cipher::kAesCbc;
  r.integ = shm::Integ::kHmacSha1_96;
  r.spi = dir == shm::SaDir::kInbound ? InSpi(i) : OutSpi(i);
  r.cipher_key_len = 16;
  r.integ_key_len = 20;
  r.encap = shm::Encap::kUdp;
  r.local_ip = htonl(kWanIpH);
  r.peer_ip = htonl(ClientIpH(i));
  r.local_port = htons(4500);
  r.peer_port = htons(4500);
  r.replay_window = replay_window;
  r.paired_index = dir == shm::SaDir::kInbound ? OutSa(i) : InSa(i);
  // Distinct keys per SA and direction, so 100k sessions really touch 200k
  // key schedules.
  const uint32_t d = dir == shm::SaDir::kInbound ? 0 : 0x55;
  for (int j = 0; j < 16; ++j) r.cipher_key[j] = uint8_t(i * 31 + j * 7 + 1 + d);
  for (int j = 0; j < 20; ++j) r.integ_key[j] = uint8_t(i * 17 + j * 3 + 2 + d);
}

void Plan::SessionRec(uint32_t i, shm::SessionRecord* out) const {
  shm::SessionRecord& s = *out;
  s.state = shm::SlotState::kActive;
  s.mru = 1400;
  s.local_tunnel_id = TunnelId(i);
  s.local_session_id = SessionId(i);
  s.peer_tunnel_id = uint16_t(7 + i % 1000);
  s.peer_session_id = uint16_t(8 + i % 1000);
  s.inbound_sa = InSa(i);
  s.inbound_sa_alt = shm::kInvalidIndex;
  s.outbound_sa = OutSa(i);
  s.assigned_ip = htonl(AssignedIpH(i));
  s.peer_ip = htonl(ClientIpH(i));
  s.peer_port = htons(1701);
}

uint32_t FrameCount(uint32_t sessions, uint32_t min_frames) {
  const uint32_t n = std::max(sessions, min_frames);
  return (n + 31) / 32 * 32;
}

std::vector<uint32_t> FeedOrder(uint32_t n_frames, uint32_t sessions) {
  std::vector<uint32_t> perm(sessions);
  for (uint32_t i = 0; i < sessions; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), std::mt19937(1));
  std::vector<uint32_t> order;
  order.reserve(n_frames);
  for (uint64_t base = 0; base < n_frames; base += sessions) {
    for (uint32_t i : perm) {
      if (base + i < n_frames) order.push_back(uint32_t(base + i));
    }
  }
  return order;
}

Frame InnerIpv4(uint32_t src_h, uint32_t dst_h, uint32_t bytes, uint32_t seed) {
  Frame p(std::max<uint32_t>(bytes, 28));
  Ipv4Header(p.data(), src_h, dst_h, 17, uint16_t(p.size()));
  uint8_t* udp = p.data() + 20;
  Put16(udp, uint16_t(10000 + seed % 20000));
  Put16(udp + 2, 9);
  Put16(udp + 4, uint16_t(p.size() - 20));
  for (size_t k = 28; k < p.size(); ++k) p[k] = uint8_t(k * 13 + seed);
  Put16(udp + 6, 0);  // optional for IPv4 (RFC 768)
  return p;
}

Frame L2tpPayload(uint32_t session, const Frame& inner) {
  Frame u(8 + 6 + 4 + inner.size());
  Put16(&u[0], 1701);
  Put16(&u[2], 1701);
  Put16(&u[4], uint16_t(u.size()));
  Put16(&u[6], 0);
  Put16(&u[8], 0x0002);  // RFC 2661 3.1: data message, version 2, no L/S/O
  Put16(&u[10], Plan::TunnelId(session));
  Put16(&u[12], Plan::SessionId(session));
  u[14] = 0xFF;  // RFC 1662 3.1 address/control
  u[15] = 0x03;
  Put16(&u[16], 0x0021);  // RFC 1332: IPv4
  std::memcpy(&u[18], inner.data(), inner.size());
  return u;
}

Frame EthIpv4(const uint8_t* dst_mac, const uint8_t* src_mac, uint32_t src_h, uint32_t dst_h,
              uint8_t proto, const uint8_t* l4, size_t l4_len) {
  Frame f(14 + 20 + l4_len);
  std::memcpy(&f[0], dst_mac, 6);
  std::memcpy(&f[6], src_mac, 6);
  Put16(&f[12], 0x0800);
  Ipv4Header(&f[14], src_h, dst_h, proto, uint16_t(20 + l4_len));
  std::memcpy(&f[34], l4, l4_len);
  return f;
}

bool BuildInbound(const Plan& plan, const std::vector<uint32_t>& sizes, Frames* out) {
  const uint32_t n = uint32_t(sizes.size());
  out->assign(n, Frame());
  auto engine = std::make_unique<esp::Engine>();
  if (!engine->Init()) return false;
  auto client = std::make_unique<esp::SaContext>();
  constexpr uint32_t kRoom = 64;
  Frame buf;
  for (uint32_t i = 0; i < plan.sessions && i < n; ++i) {
    // The client's outbound SA = our inbound SA's keys and SPI.
    shm::SaRecord rec{};
    plan.SaRec(i, shm::SaDir::kInbound, 0, &rec);
    rec.dir = shm::SaDir::kOutbound;
    if (esp::InitSaContext(rec, client.get()) != esp::InitResult::kOk) return false;
    for (uint32_t k = i; k < n; k += plan.sessions) {
      const Frame inner = InnerIpv4(Plan::AssignedIpH(i), kHostIpH, sizes[k], k);
      const Frame l2 = L2tpPayload(i, inner);
      buf.assign(kRoom + 8 + l2.size() + kRoom, 0);
      uint8_t* payload = buf.data() + kRoom + 8;
      std::memcpy(payload, l2.data(), l2.size());
      esp::OutboundJob j{};
      j.sa = client.get();
      j.payload = payload;
      j.payload_len = uint32_t(l2.size());
      j.headroom = kRoom;
      j.tailroom = kRoom;
      j.next_header = 17;
      engine->EncryptBurst(&j, 1);
      if (j.verdict != esp::kOk) return false;
      // RFC 3948 2.1: UDP 4500 header in front of the ESP header, checksum 0.
      uint8_t* udp = j.esp - 8;
      Put16(udp, 4500);
      Put16(udp + 2, 4500);
      Put16(udp + 4, uint16_t(8 + j.esp_len));
      Put16(udp + 6, 0);
      (*out)[k] = EthIpv4(kWanMac, kGwMac, Plan::ClientIpH(i), kWanIpH, 17, udp, 8 + j.esp_len);
    }
  }
  return true;
}

Frames BuildOutbound(const Plan& plan, const std::vector<uint32_t>& sizes) {
  Frames out(sizes.size());
  for (uint32_t k = 0; k < sizes.size(); ++k) {
    const uint32_t i = k % plan.sessions;
    const Frame inner = InnerIpv4(kHostIpH, Plan::AssignedIpH(i), sizes[k], k);
    out[k] = EthIpv4(kLanMac, kHostMac, kHostIpH, Plan::AssignedIpH(i), 17, inner.data() + 20,
                     inner.size() - 20);
  }
  return out;
}

Frames SecgwInbound(const Frames& ours) {
  Frames out;
  out.reserve(ours.size());
  for (const Frame& f : ours) {
    // Eth(14) IPv4(20) UDP(8) ESP...: drop the UDP header, protocol 50.
    const uint32_t src = uint32_t(f[26]) << 24 | f[27] << 16 | f[28] << 8 | f[29];
    const uint32_t dst = uint32_t(f[30]) << 24 | f[31] << 16 | f[32] << 8 | f[33];
    out.push_back(EthIpv4(kWanMac, kGwMac, src, dst, 50, f.data() + 42, f.size() - 42));
  }
  return out;
}

Frames SecgwOutbound(const Plan& plan, const std::vector<uint32_t>& sizes) {
  Frames out(sizes.size());
  for (uint32_t k = 0; k < sizes.size(); ++k) {
    const uint32_t i = k % plan.sessions;
    const Frame inner = InnerIpv4(kHostIpH, Plan::AssignedIpH(i), sizes[k], k);
    const Frame l2 = L2tpPayload(i, inner);
    out[k] = EthIpv4(kLanMac, kHostMac, kWanIpH, Plan::ClientIpH(i), 17, l2.data(), l2.size());
  }
  return out;
}

std::string SecgwConfig(const Plan& plan) {
  shm::SaRecord in{}, out{};
  plan.SaRec(0, shm::SaDir::kInbound, 0, &in);
  plan.SaRec(0, shm::SaDir::kOutbound, 0, &out);
  auto sa = [](const char* dir, const shm::SaRecord& r) {
    return std::string("sa ") + dir + " " + std::to_string(r.spi) +
           " cipher_algo aes-128-cbc cipher_key " + Hex(r.cipher_key, 16) +
           " auth_algo sha1-hmac auth_key " + Hex(r.integ_key, 20) + " mode transport\n";
  };
  std::string c = "# Generated by dp_bench --emit-secgw: session 0 of the perf plan.\n";
  c += sa("in", in);
  c += sa("out", out);
  c += "sp ipv4 in esp protect " + std::to_string(in.spi) + " pri 1 dst " + Dotted(kWanIpH) +
       "/32 sport 0:65535 dport 0:65535\n";
  c += "sp ipv4 out esp protect " + std::to_string(out.spi) + " pri 1 dst " +
       Dotted(Plan::ClientIpH(0)) + "/32 sport 0:65535 dport 0:65535\n";
  // Unprotected port 0 (WAN), protected port 1 (LAN).
  c += "rt ipv4 dst " + Dotted(kWanIpH) + "/32 port 1\n";
  c += "rt ipv4 dst " + Dotted(Plan::ClientIpH(0)) + "/32 port 0\n";
  return c;
}

}  // namespace vpn::perf
