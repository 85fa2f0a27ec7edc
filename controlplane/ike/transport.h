// The IKE socket seam: the daemon sends on UDP 500/4500 (adding the 4-byte
// non-ESP marker on 4500, RFC 3948 2.2); tests connect two engines in-process.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace vpn::ike {

struct Endpoint {
  uint32_t ip = 0;    // network order
  uint16_t port = 0;  // host order
  bool operator==(const Endpoint&) const = default;
  bool operator<(const Endpoint& o) const { return ip != o.ip ? ip < o.ip : port < o.port; }
  std::string ToString() const;
};

// Dotted quad of a network-order address.
std::string FormatIp(uint32_t ip_net);

inline constexpr uint16_t kIkePort = 500;
inline constexpr uint16_t kNatTPort = 4500;

class Transport {
 public:
  virtual ~Transport() = default;
  // `msg` never includes the non-ESP marker.
  virtual void SendIke(const Endpoint& local, const Endpoint& remote,
                       std::span<const uint8_t> msg) = 0;
  // RFC 3948 2.3: a NAT-keepalive, one 0xFF octet in UDP from port 4500,
  // WITHOUT the non-ESP marker. Sent only when we are behind a NAT.
  virtual void SendNatKeepalive(const Endpoint& /*local*/, const Endpoint& /*remote*/) {}
};

}  // namespace vpn::ike
