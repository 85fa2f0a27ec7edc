// Test helpers: an in-process RADIUS server on 127.0.0.1 sharing the test's
// EventLoop (our own server side of the codec: it reveals passwords and
// checks authenticators with the shared secret), and a bounded loop runner.
#pragma once

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <optional>
#include <vector>

#include "event_loop.h"
#include "radius_crypto.h"
#include "radius_packet.h"
#include "vpn/config.h"

namespace vpn::radius::testing {

// Runs `loop` until `done()` or `limit` (wall time) passes; true if done.
inline bool RunUntil(cp::EventLoop& loop, const std::function<bool()>& done,
                     absl::Duration limit = absl::Seconds(5)) {
  const absl::Time end = absl::Now() + limit;
  std::function<void()> check;
  check = [&] {
    if (done() || absl::Now() >= end) {
      loop.Stop();
      return;
    }
    loop.Schedule(absl::Milliseconds(2), check);
  };
  loop.Schedule(absl::ZeroDuration(), check);
  loop.Run();
  return done();
}
inline void RunFor(cp::EventLoop& loop, absl::Duration d) {
  RunUntil(loop, [] { return false; }, d);
}

// A UDP port nobody listens on (bound, then closed).
inline uint16_t UnusedPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

class FakeServer {
 public:
  using Handler = std::function<std::optional<Packet>(const Packet& request)>;
  FakeServer(cp::EventLoop& loop, std::string secret) : loop_(loop), secret_(std::move(secret)) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    (void)loop_.WatchReadable(fd_, [this] { OnReadable(); });
  }
  ~FakeServer() {
    loop_.Unwatch(fd_);
    close(fd_);
  }
  uint16_t port() const { return port_; }

  Handler handler;        // nullopt reply = stay silent
  // Replaces the encoded reply (e.g. with mutated octets) before sending.
  std::function<Bytes(Bytes signed_reply)> tamper;
  int drop_next = 0;      // ignore this many requests
  bool silent = false;    // ignore everything
  std::string reply_secret;  // sign replies with another secret (tests)
  std::vector<Packet> received;
  std::vector<Bytes> received_wire;
  std::vector<std::string> revealed_passwords;
  int bad_authenticators = 0;
  int answered = 0;

 private:
  void OnReadable() {
    for (int i = 0; i < 64 && OnDatagram(); ++i) {
    }
  }
  // False when nothing was waiting.
  bool OnDatagram() {
    uint8_t buf[4200];
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    const ssize_t n = recvfrom(fd_, buf, sizeof(buf), MSG_DONTWAIT,
                               reinterpret_cast<sockaddr*>(&from), &flen);
    if (n <= 0) return false;
    const ByteSpan wire(buf, size_t(n));
    absl::StatusOr<Packet> req = Decode(wire);
    if (!req.ok()) return true;
    received.push_back(*req);
    received_wire.emplace_back(wire.begin(), wire.end());
    std::string why;
    if (req->code == kAccessRequest) {
      if (!VerifyAccessRequest(wire, secret_, &why)) ++bad_authenticators;
      if (const Attribute* pw = req->Find(kUserPassword)) {
        auto p = RevealPassword(pw->value, secret_, req->authenticator);
        revealed_passwords.push_back(p.ok() ? *p : "<bad>");
      }
    } else if (!VerifyRequest(wire, secret_, false, &why)) {
      ++bad_authenticators;
    }
    if (silent) return true;
    if (drop_next > 0) {
      --drop_next;
      return true;
    }
    std::optional<Packet> reply;
    if (handler) {
      reply = handler(*req);
    } else {
      Packet r;
      r.code = req->code == kAccountingRequest ? kAccountingResponse : kAccessAccept;
      reply = r;
    }
    if (!reply) return true;
    reply->id = req->id;
    auto out = EncodeResponse(*reply, req->authenticator,
                              reply_secret.empty() ? secret_ : reply_secret);
    if (!out.ok()) return true;
    ++answered;
    if (tamper) *out = tamper(*std::move(out));
    sendto(fd_, out->data(), out->size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    return true;
  }

  cp::EventLoop& loop_;
  std::string secret_;
  int fd_ = -1;
  uint16_t port_ = 0;
};

inline config::RadiusServer Server(uint16_t auth_port, uint16_t acct_port,
                                   const std::string& secret) {
  config::RadiusServer s;
  s.address = 0x7f000001;
  s.auth_port = auth_port;
  s.acct_port = acct_port;
  s.secret = secret;
  return s;
}

}  // namespace vpn::radius::testing
