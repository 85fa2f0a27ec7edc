#include "transport.h"

#include <arpa/inet.h>

#include "absl/strings/str_format.h"

namespace vpn::l2tp {

std::string PeerBinding::Address() const {
  char ip[INET_ADDRSTRLEN] = "?";
  in_addr a{};
  a.s_addr = peer_ip;
  inet_ntop(AF_INET, &a, ip, sizeof ip);
  return absl::StrFormat("%s:%d", ip, peer_port);
}

std::string PeerBinding::ToString() const {
  if (cleartext()) return absl::StrFormat("%s (cleartext)", Address());
  return absl::StrFormat("%s sa %u", Address(), sa_index);
}

}  // namespace vpn::l2tp
