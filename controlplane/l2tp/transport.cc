#include "transport.h"

#include <arpa/inet.h>

#include "absl/strings/str_format.h"

namespace vpn::l2tp {

std::string PeerBinding::ToString() const {
  char ip[INET_ADDRSTRLEN] = "?";
  in_addr a{};
  a.s_addr = peer_ip;
  inet_ntop(AF_INET, &a, ip, sizeof ip);
  if (cleartext()) return absl::StrFormat("%s:%d (cleartext)", ip, peer_port);
  return absl::StrFormat("%s:%d sa %u", ip, peer_port, sa_index);
}

}  // namespace vpn::l2tp
