// What the L2TP control plane needs from the daemon: where a message came
// from (and so where replies go), and a way to send.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "ppp_link.h"

namespace vpn::l2tp {

inline constexpr uint32_t kNoSa = 0xFFFFFFFFu;  // shm::kInvalidIndex: cleartext

// The path a tunnel is bound to: the IPsec SA its messages arrive through and
// the client's outer address. Replies use the same binding; the daemon turns
// it into an inject-ring request (encrypt with the SA paired with sa_index).
struct PeerBinding {
  uint32_t sa_index = kNoSa;  // inbound SA index, kNoSa for cleartext
  uint32_t peer_ip = 0;       // network order
  uint16_t peer_port = 0;     // host order (the client's L2TP UDP port)
  uint32_t local_ip = 0;      // network order
  uint16_t local_port = 1701; // host order

  bool cleartext() const { return sa_index == kNoSa; }
  // Same client path: SA and peer address. The local address does not
  // identify the client.
  bool SamePeer(const PeerBinding& o) const {
    return sa_index == o.sa_index && peer_ip == o.peer_ip &&
           peer_port == o.peer_port;
  }
  std::string ToString() const;
  // "198.18.0.10:1701": the peer scope in which our tunnel ids are unique.
  std::string Address() const;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void SendL2tp(const PeerBinding& b, std::span<const uint8_t> msg) = 0;
};

using PppEndpointFactory = std::function<std::unique_ptr<cp::PppEndpoint>(
    cp::PppLink&, const cp::L2tpSessionInfo&)>;

}  // namespace vpn::l2tp
