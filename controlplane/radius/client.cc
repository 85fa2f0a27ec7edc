#include "client.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "radius_crypto.h"
#include "vpn/log.h"

namespace vpn::radius {

std::string_view ServiceName(Service s) {
  return s == Service::kAuth ? "authentication" : "accounting";
}

Client::Client(cp::EventLoop& loop, const config::Radius& cfg) : loop_(loop), cfg_(cfg) {}

Client::~Client() {
  alive_.reset();
  for (auto& [rid, p] : pending_)
    if (p->timer) loop_.Cancel(p->timer);
  for (auto& ep : endpoints_) {
    if (ep->fd >= 0) {
      loop_.Unwatch(ep->fd);
      close(ep->fd);
    }
  }
}

absl::Status Client::Open() {
  for (size_t i = 0; i < cfg_.servers.size(); ++i) {
    const config::RadiusServer& s = cfg_.servers[i];
    for (Service svc : {Service::kAuth, Service::kAcct}) {
      const uint16_t port = svc == Service::kAuth ? s.auth_port : s.acct_port;
      if (port == 0) continue;
      auto ep = std::make_unique<Endpoint>();
      ep->server = i;
      ep->service = svc;
      ep->secret = s.secret;
      ep->addr.sin_family = AF_INET;
      ep->addr.sin_addr.s_addr = htonl(s.address);
      ep->addr.sin_port = htons(port);
      ep->name = absl::StrFormat("%s:%d", config::FormatIpv4(s.address), port);
      // Random first Identifier: a restarted NAS does not reuse the previous
      // run's (server duplicate detection, RFC 5080 2.2.2).
      ep->next_id = RandomAuthenticator()[0];
      ep->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (ep->fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
      if (cfg_.nas_ip) {
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(cfg_.nas_ip);
        if (bind(ep->fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
          const int e = errno;
          close(ep->fd);
          return absl::InvalidArgumentError(absl::StrFormat(
              "radius: cannot bind to nas_ip %s: %s", config::FormatIpv4(cfg_.nas_ip), strerror(e)));
        }
      }
      // Connected: the kernel drops datagrams from anyone but the server.
      if (connect(ep->fd, reinterpret_cast<sockaddr*>(&ep->addr), sizeof(ep->addr)) != 0) {
        const int e = errno;
        close(ep->fd);
        return absl::InternalError(absl::StrFormat("radius: connect %s: %s", ep->name, strerror(e)));
      }
      Endpoint* raw = ep.get();
      if (absl::Status st = loop_.WatchReadable(ep->fd, [this, raw] { OnReadable(*raw); }); !st.ok()) {
        close(ep->fd);
        return st;
      }
      endpoints_.push_back(std::move(ep));
    }
  }
  return absl::OkStatus();
}

bool Client::HasServer(Service s) const {
  for (const auto& ep : endpoints_)
    if (ep->service == s) return true;
  return false;
}

bool Client::ServerDead(size_t server, Service s) const {
  for (const auto& ep : endpoints_)
    if (ep->server == server && ep->service == s) return ep->dead_until > loop_.Now();
  return false;
}

Client::RequestId Client::Send(Service s, Packet request, Done done, Refresh refresh) {
  ++counters_.requests;
  auto p = std::make_unique<Pending>();
  p->rid = next_rid_++;
  p->service = s;
  p->packet = std::move(request);
  p->done = std::move(done);
  p->refresh = std::move(refresh);
  const absl::Time now = loop_.Now();
  for (const auto& ep : endpoints_)
    if (ep->service == s && ep->dead_until <= now) p->order.push_back(ep.get());
  if (p->order.empty()) {
    // Every server is dead: try them all anyway, in order (RFC 5080 2.2.1
    // leaves the policy to us; giving up without trying loses logins).
    for (const auto& ep : endpoints_)
      if (ep->service == s) p->order.push_back(ep.get());
  }
  const RequestId rid = p->rid;
  Pending& ref = *p;
  pending_[rid] = std::move(p);
  StartOnNextServer(ref);
  return rid;
}

void Client::Cancel(RequestId rid) {
  auto it = pending_.find(rid);
  if (it == pending_.end()) return;
  ReleaseId(*it->second);
  if (it->second->timer) loop_.Cancel(it->second->timer);
  pending_.erase(it);
}

void Client::ReleaseId(Pending& p) {
  if (p.ep && p.id >= 0 && p.ep->by_id[p.id] == p.rid) p.ep->by_id[p.id] = 0;
  p.id = -1;
}

void Client::StartOnNextServer(Pending& p) {
  ReleaseId(p);
  if (p.order.empty()) {
    ++counters_.failures;
    // Deferred: callers may Send from inside their own callbacks.
    const RequestId rid = p.rid;
    const Service svc = p.service;
    std::weak_ptr<char> alive = alive_;
    p.timer = loop_.Schedule(absl::ZeroDuration(), [this, alive, rid, svc] {
      if (alive.expired()) return;
      auto it = pending_.find(rid);
      if (it != pending_.end()) it->second->timer = 0;
      Fail(rid, absl::UnavailableError(
                    absl::StrFormat("no RADIUS %s server answered", ServiceName(svc))));
    });
    return;
  }
  if (p.ep) ++counters_.failovers;
  p.ep = p.order.front();
  p.order.erase(p.order.begin());
  Endpoint& ep = *p.ep;
  // A free Identifier on this socket (RFC 2865 3: unique among outstanding).
  int id = -1;
  for (int n = 0; n < 256; ++n) {
    const uint8_t cand = uint8_t(ep.next_id + n);
    if (ep.by_id[cand] == 0) {
      id = cand;
      break;
    }
  }
  if (id < 0) {
    // 256 requests outstanding to this server: wait a little and retry it.
    p.order.insert(p.order.begin(), p.ep);
    p.ep = nullptr;
    const RequestId rid = p.rid;
    p.timer = loop_.Schedule(absl::Milliseconds(20), [this, rid] {
      auto it = pending_.find(rid);
      if (it == pending_.end()) return;
      it->second->timer = 0;
      StartOnNextServer(*it->second);
    });
    return;
  }
  ep.next_id = uint8_t(id + 1);
  ep.by_id[id] = p.rid;
  p.id = id;
  if (p.refresh) p.refresh(p.packet);
  p.packet.id = uint8_t(id);
  absl::StatusOr<Bytes> wire = EncodeRequest(p.packet, ep.secret, &p.request_auth);
  if (!wire.ok()) {
    ReleaseId(p);
    const RequestId rid = p.rid;
    const absl::Status st = wire.status();
    p.order.clear();
    p.timer = loop_.Schedule(absl::ZeroDuration(), [this, rid, st] { Fail(rid, st); });
    return;
  }
  p.wire = *std::move(wire);
  p.sends_left = cfg_.retries + 1;
  p.started_on_ep = loop_.Now();
  Transmit(p);
}

void Client::Transmit(Pending& p) {
  Endpoint& ep = *p.ep;
  --p.sends_left;
  ++counters_.transmissions;
  if (send(ep.fd, p.wire.data(), p.wire.size(), 0) < 0) {
    // ECONNREFUSED from an earlier ICMP error, ENOBUFS...: the timer below
    // treats it like a lost datagram.
    ++counters_.socket_errors;
    VPN_LOG(auth, kEvent, "radius: send to %s: %s", ep.name, strerror(errno));
  }
  VPN_LOG(auth, kPacket, "radius: %s id %d to %s (%d octets)", CodeName(p.packet.code), p.id,
          ep.name, p.wire.size());
  const RequestId rid = p.rid;
  std::weak_ptr<char> alive = alive_;
  p.timer = loop_.Schedule(absl::Milliseconds(cfg_.timeout_ms), [this, alive, rid] {
    if (!alive.expired()) OnTimer(rid);
  });
}

void Client::OnTimer(RequestId rid) {
  auto it = pending_.find(rid);
  if (it == pending_.end()) return;
  Pending& p = *it->second;
  p.timer = 0;
  if (p.sends_left > 0) {
    ++counters_.retransmissions;
    Transmit(p);
    return;
  }
  Endpoint& ep = *p.ep;
  ++counters_.server_timeouts;
  // Dead only if nothing at all came back since this request was first sent
  // there: a busy server that answers others is slow, not dead.
  if (ep.last_reply < p.started_on_ep && ep.dead_until <= loop_.Now()) {
    ep.dead_until = loop_.Now() + absl::Seconds(cfg_.dead_time_s);
    VPN_LOG(auth, kWarn, "radius: %s server %s not answering; skipped for %ds",
            ServiceName(ep.service), ep.name, cfg_.dead_time_s);
  }
  StartOnNextServer(p);
}

void Client::OnReadable(Endpoint& ep) {
  uint8_t buf[kMaxPacketLen + 1];
  // Bounded: other sockets get their turn.
  for (int i = 0; i < 64; ++i) {
    const ssize_t n = recv(ep.fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR) continue;
      ++counters_.socket_errors;  // ECONNREFUSED: the port is closed
      continue;
    }
    HandleReply(ep, ByteSpan(buf, size_t(n)));
  }
}

void Client::HandleReply(Endpoint& ep, ByteSpan wire) {
  absl::StatusOr<Packet> reply = Decode(wire);
  if (!reply.ok()) {
    ++counters_.bad_replies;
    VPN_LOG(auth, kEvent, "radius: malformed reply from %s: %s", ep.name,
            reply.status().message());
    return;
  }
  const RequestId rid = ep.by_id[reply->id];
  auto it = rid ? pending_.find(rid) : pending_.end();
  if (it == pending_.end()) {
    ++counters_.unmatched_replies;  // late answer to a retried/failed-over request
    return;
  }
  Pending& p = *it->second;
  const bool code_ok = p.service == Service::kAuth
                           ? (reply->code == kAccessAccept || reply->code == kAccessReject ||
                              reply->code == kAccessChallenge)
                           : reply->code == kAccountingResponse;
  std::string why;
  // RFC 3579 3.2: a reply carrying EAP-Message must be signed.
  const bool need_ma = cfg_.require_message_authenticator || reply->Find(kEapMessage);
  if (!code_ok || !VerifyResponse(wire, p.request_auth, ep.secret, need_ma, &why)) {
    ++counters_.bad_replies;
    VPN_LOG(auth, kWarn, "radius: %s id %d from %s dropped: %s", CodeName(reply->code), reply->id,
            ep.name, code_ok ? why : "unexpected code");
    return;
  }
  ++counters_.replies;
  const bool was_dead = ep.dead_until > loop_.Now();
  ep.last_reply = loop_.Now();
  ep.dead_until = absl::InfinitePast();
  Complete(rid, *std::move(reply));
  if (was_dead && on_revived_) {
    VPN_LOG(auth, kInfo, "radius: %s server %s answers again", ServiceName(ep.service), ep.name);
    on_revived_();
  }
}

void Client::Complete(RequestId rid, absl::StatusOr<Packet> reply) {
  auto it = pending_.find(rid);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  ReleaseId(*p);
  if (p->timer) loop_.Cancel(p->timer);
  if (p->done) p->done(std::move(reply));
}

void Client::Fail(RequestId rid, absl::Status why) { Complete(rid, std::move(why)); }

}  // namespace vpn::radius
