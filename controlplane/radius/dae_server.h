// RFC 5176 Dynamic Authorization listener (UDP 3799 by default): a
// Disconnect-Request from one of the configured RADIUS servers (its address
// selects the shared secret) tears the matching sessions down and is
// answered with Disconnect-ACK, or Disconnect-NAK with an Error-Cause.
// CoA-Requests are answered with CoA-NAK 406 (Unsupported Extension).
//
// Checks, in RFC order: unknown source or bad Request Authenticator /
// Message-Authenticator -> silently discarded (RFC 5176 3.5); Event-Timestamp
// more than 300 s off -> discarded (3.4, replay); NAS-IP-Address /
// NAS-Identifier not ours -> NAK 403; an attribute we cannot act on -> NAK
// 401; no session identification (User-Name, Acct-Session-Id,
// Framed-IP-Address, Calling-Station-Id) -> NAK 402; nothing matched -> NAK
// 503. All identification attributes given must match (3). Proxy-State is
// echoed. Retransmitted requests get the cached answer (duplicate detection,
// RFC 5080 2.2.2).
#pragma once

#include <netinet/in.h>

#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "event_loop.h"
#include "radius_packet.h"
#include "vpn/config.h"

namespace vpn::radius {

struct DisconnectRequest {
  std::optional<std::string> user_name;
  std::optional<std::string> acct_session_id;
  std::optional<uint32_t> framed_ip;  // host order
  std::optional<std::string> calling_station;
  std::string from;                    // "127.0.0.1:41234" for logs
};

struct DaeCounters {
  uint64_t received = 0, malformed = 0, unknown_client = 0, bad_authenticator = 0;
  uint64_t stale = 0, duplicates = 0, acks = 0, naks = 0, coa_naks = 0, sessions_disconnected = 0;
};

class DaeServer {
 public:
  // Tears down every session matching the request; returns how many.
  using DisconnectFn = std::function<int(const DisconnectRequest&)>;
  DaeServer(cp::EventLoop& loop, const config::Radius& cfg, DisconnectFn disconnect);
  ~DaeServer();
  DaeServer(const DaeServer&) = delete;
  DaeServer& operator=(const DaeServer&) = delete;

  // Binds cfg.dae_address:cfg.dae_port (or `port_override`).
  absl::Status Open(std::optional<uint16_t> port_override = std::nullopt);
  uint16_t port() const { return port_; }
  const DaeCounters& counters() const { return counters_; }

  // For tests: the answer to one datagram from `from` (nullopt = discard).
  std::optional<Bytes> Handle(ByteSpan wire, const sockaddr_in& from);

 private:
  struct Cached {
    uint32_t ip = 0;
    uint16_t port = 0;
    uint8_t id = 0;
    Authenticator auth{};
    Bytes reply;
    absl::Time at;
  };
  void OnReadable();

  cp::EventLoop& loop_;
  const config::Radius& cfg_;
  DisconnectFn disconnect_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::deque<Cached> cache_;
  DaeCounters counters_;
};

}  // namespace vpn::radius
