// The RADIUS client transport: non-blocking UDP sockets watched by the
// control plane's EventLoop, so no request ever blocks the loop.
//
// Why not radcli: Debian's radcli (libradcli-dev 1.2.11) sends only through
// rc_send_server/rc_aaa, which select() on the socket until the last retry
// of the last server has timed out; packet building is internal. Driving it
// from the single-threaded loop would need a worker thread per concurrent
// request (a site reconnecting means hundreds of logins at once, each
// holding a thread for up to servers x retries x timeout), and it has no
// server side for RFC 5176 Disconnect-Requests, whose authenticators we must
// verify ourselves anyway. The codec is small (radius_packet, radius_crypto
// over OpenSSL MD5/HMAC-MD5) and is tested against the RFC 2865 section 7
// vectors and a real FreeRADIUS.
//
// Retransmission and failover (RFC 2865 2.4, RFC 5080 2.2): a request goes
// to the first server not marked dead, in configuration order; it is resent
// unchanged (same Identifier and authenticator) every `timeout_ms` up to
// `retries` times, then the next server gets a freshly encoded copy (new
// Identifier, Refresh hook run: Acct-Delay-Time). A server that let a
// request time out and has not answered anything since is skipped for
// `dead_time`; when every server is dead they are all tried anyway.
#pragma once

#include <netinet/in.h>

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "event_loop.h"
#include "radius_packet.h"
#include "vpn/config.h"

namespace vpn::radius {

enum class Service : uint8_t { kAuth, kAcct };

struct ClientCounters {
  uint64_t requests = 0;
  uint64_t transmissions = 0;      // including retransmissions
  uint64_t retransmissions = 0;
  uint64_t replies = 0;            // valid, matched
  uint64_t bad_replies = 0;        // malformed or failing the authenticator
  uint64_t unmatched_replies = 0;  // no request waiting for that Identifier
  uint64_t server_timeouts = 0;    // a server let a request run out of retries
  uint64_t failovers = 0;          // a request moved to another server
  uint64_t failures = 0;           // no server answered a request
  uint64_t socket_errors = 0;
};

class Client {
 public:
  using RequestId = uint64_t;
  using Done = std::function<void(absl::StatusOr<Packet> reply)>;
  // Runs before each fresh encoding of the request (first send and each
  // failover), e.g. to update Acct-Delay-Time (RFC 2866 5.2).
  using Refresh = std::function<void(Packet&)>;

  Client(cp::EventLoop& loop, const config::Radius& cfg);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One connected UDP socket per server and service with a port.
  absl::Status Open();
  bool HasServer(Service s) const;

  // `done` runs exactly once (never synchronously) unless Cancel()ed or the
  // client is destroyed first: with the verified reply, or with
  // UnavailableError when no server answered.
  RequestId Send(Service s, Packet request, Done done, Refresh refresh = nullptr);
  void Cancel(RequestId id);
  size_t in_flight() const { return pending_.size(); }

  // Runs whenever a server answers after having been marked dead (the
  // accounting queue flushes then).
  void set_on_server_revived(std::function<void()> cb) { on_revived_ = std::move(cb); }
  bool ServerDead(size_t server_index, Service s) const;
  const ClientCounters& counters() const { return counters_; }

 private:
  struct Endpoint {
    size_t server = 0;
    Service service = Service::kAuth;
    int fd = -1;
    sockaddr_in addr{};
    std::string secret;
    std::string name;  // "127.0.0.1:1812" for logs
    std::array<RequestId, 256> by_id{};
    uint8_t next_id = 0;
    absl::Time dead_until = absl::InfinitePast();
    absl::Time last_reply = absl::InfinitePast();
  };
  struct Pending {
    RequestId rid = 0;
    Service service = Service::kAuth;
    Packet packet;
    Done done;
    Refresh refresh;
    std::vector<Endpoint*> order;  // endpoints still to try, front first
    Endpoint* ep = nullptr;        // current
    int id = -1;                   // Identifier on ep, -1 = none held
    Bytes wire;
    Authenticator request_auth{};
    uint32_t sends_left = 0;
    absl::Time started_on_ep;
    cp::TimerQueue::TimerId timer = 0;
  };

  void StartOnNextServer(Pending& p);
  void Transmit(Pending& p);
  void OnTimer(RequestId rid);
  void OnReadable(Endpoint& ep);
  void HandleReply(Endpoint& ep, ByteSpan wire);
  void ReleaseId(Pending& p);
  void Fail(RequestId rid, absl::Status why);
  void Complete(RequestId rid, absl::StatusOr<Packet> reply);

  cp::EventLoop& loop_;
  const config::Radius& cfg_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::map<RequestId, std::unique_ptr<Pending>> pending_;
  RequestId next_rid_ = 1;
  ClientCounters counters_;
  std::function<void()> on_revived_;
  std::shared_ptr<char> alive_ = std::make_shared<char>(0);
};

std::string_view ServiceName(Service s);

}  // namespace vpn::radius
