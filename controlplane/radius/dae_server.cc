#include "dae_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "radius_crypto.h"
#include "vpn/log.h"

namespace vpn::radius {

namespace {
constexpr absl::Duration kDuplicateWindow = absl::Seconds(30);
constexpr size_t kCacheMax = 256;
constexpr int64_t kEventTimestampWindowS = 300;  // RFC 5176 3.4

// What a Disconnect-Request may carry that we understand (RFC 5176 3.6
// table for Disconnect-Request).
bool Understood(uint8_t type) {
  switch (type) {
    case kUserName: case kNasIpAddress: case kFramedIpAddress: case kReplyMessage:
    case kState: case kClass: case kCalledStationId: case kCallingStationId:
    case kNasIdentifier: case kProxyState: case kAcctSessionId: case kAcctTerminateCause:
    case kEventTimestamp: case kMessageAuthenticator: case kNasPortId: case kErrorCause:
    case kServiceType:
      return true;
  }
  return false;
}
}  // namespace

DaeServer::DaeServer(cp::EventLoop& loop, const config::Radius& cfg, DisconnectFn disconnect)
    : loop_(loop), cfg_(cfg), disconnect_(std::move(disconnect)) {}

DaeServer::~DaeServer() {
  if (fd_ >= 0) {
    loop_.Unwatch(fd_);
    close(fd_);
  }
}

absl::Status DaeServer::Open(std::optional<uint16_t> port_override) {
  const uint16_t port = port_override.value_or(cfg_.dae_port);
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(cfg_.dae_address);
  a.sin_port = htons(port);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    close(fd_);
    fd_ = -1;
    return absl::UnavailableError(absl::StrFormat("radius: cannot listen for Disconnect on %s:%d: %s",
                                                  config::FormatIpv4(cfg_.dae_address), port,
                                                  strerror(e)));
  }
  socklen_t len = sizeof(a);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  return loop_.WatchReadable(fd_, [this] { OnReadable(); });
}

void DaeServer::OnReadable() {
  uint8_t buf[kMaxPacketLen + 1];
  for (int i = 0; i < 64; ++i) {
    sockaddr_in from{};
    socklen_t flen = sizeof(from);
    const ssize_t n =
        recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    std::optional<Bytes> reply = Handle(ByteSpan(buf, size_t(n)), from);
    if (reply) {
      sendto(fd_, reply->data(), reply->size(), 0, reinterpret_cast<sockaddr*>(&from),
             sizeof(from));
    }
  }
}

std::optional<Bytes> DaeServer::Handle(ByteSpan wire, const sockaddr_in& from) {
  ++counters_.received;
  const uint32_t src = ntohl(from.sin_addr.s_addr);
  const std::string who = absl::StrFormat("%s:%d", config::FormatIpv4(src), ntohs(from.sin_port));
  absl::StatusOr<Packet> req = Decode(wire);
  if (!req.ok() || (req->code != kDisconnectRequest && req->code != kCoaRequest)) {
    ++counters_.malformed;
    VPN_LOG(auth, kEvent, "radius: dynamic authorization packet from %s dropped: %s", who,
            req.ok() ? "not a Disconnect/CoA-Request" : std::string(req.status().message()));
    return std::nullopt;
  }
  const config::RadiusServer* client = nullptr;
  for (const config::RadiusServer& s : cfg_.servers)
    if (s.address == src) client = &s;
  if (!client) {
    ++counters_.unknown_client;
    VPN_LOG(auth, kWarn, "radius: %s from unknown client %s dropped", CodeName(req->code), who);
    return std::nullopt;
  }
  std::string why;
  if (!VerifyRequest(wire, client->secret, cfg_.require_message_authenticator, &why)) {
    ++counters_.bad_authenticator;
    VPN_LOG(auth, kWarn, "radius: %s from %s dropped: %s", CodeName(req->code), who, why);
    return std::nullopt;
  }
  const absl::Time now = loop_.Now();
  while (!cache_.empty() && now - cache_.front().at > kDuplicateWindow) cache_.pop_front();
  for (const Cached& c : cache_) {
    if (c.ip == src && c.port == from.sin_port && c.id == req->id && c.auth == req->authenticator) {
      ++counters_.duplicates;
      return c.reply;
    }
  }
  if (auto ts = req->U32(kEventTimestamp)) {
    const int64_t skew = absl::ToUnixSeconds(now) - int64_t(*ts);
    if (skew > kEventTimestampWindowS || skew < -kEventTimestampWindowS) {
      ++counters_.stale;
      VPN_LOG(auth, kWarn, "radius: %s from %s dropped: Event-Timestamp %d s off", CodeName(req->code),
              who, skew);
      return std::nullopt;
    }
  }

  Packet reply;
  reply.id = req->id;
  uint32_t error_cause = 0;
  int torn_down = 0;
  if (req->code == kCoaRequest) {
    reply.code = kCoaNak;
    error_cause = kErrUnsupportedExtension;
    ++counters_.coa_naks;
  } else {
    DisconnectRequest d;
    d.from = who;
    d.user_name = req->String(kUserName);
    d.acct_session_id = req->String(kAcctSessionId);
    d.framed_ip = req->U32(kFramedIpAddress);
    d.calling_station = req->String(kCallingStationId);
    const auto nas_ip = req->U32(kNasIpAddress);
    const auto nas_id = req->String(kNasIdentifier);
    uint8_t unknown = 0;
    for (const Attribute& a : req->attributes)
      if (!Understood(a.type)) unknown = a.type;
    if ((nas_ip && cfg_.nas_ip && *nas_ip != cfg_.nas_ip) ||
        (nas_id && *nas_id != cfg_.nas_identifier)) {
      error_cause = kErrNasIdentificationMismatch;
    } else if (unknown) {
      error_cause = kErrUnsupportedAttribute;
    } else if (!d.user_name && !d.acct_session_id && !d.framed_ip && !d.calling_station) {
      error_cause = kErrMissingAttribute;
    } else {
      torn_down = disconnect_ ? disconnect_(d) : 0;
      if (torn_down == 0) error_cause = kErrSessionContextNotFound;
    }
    reply.code = error_cause ? kDisconnectNak : kDisconnectAck;
    if (error_cause) {
      ++counters_.naks;
    } else {
      ++counters_.acks;
      counters_.sessions_disconnected += uint64_t(torn_down);
    }
    VPN_LOG(auth, kInfo, "radius: Disconnect-Request from %s (user %s, session %s, ip %s): %s",
            who, d.user_name.value_or("-"), d.acct_session_id.value_or("-"),
            d.framed_ip ? config::FormatIpv4(*d.framed_ip) : "-",
            error_cause ? absl::StrFormat("NAK %d", error_cause)
                        : absl::StrFormat("%d session(s) disconnected", torn_down));
  }
  if (error_cause) reply.AddU32(kErrorCause, error_cause);
  for (ByteSpan ps : req->FindAll(kProxyState)) reply.Add(kProxyState, ps);
  reply.Add(kMessageAuthenticator, Bytes(kAuthenticatorLen, 0));
  absl::StatusOr<Bytes> out = EncodeResponse(reply, req->authenticator, client->secret);
  if (!out.ok()) return std::nullopt;
  if (cache_.size() >= kCacheMax) cache_.pop_front();
  cache_.push_back(Cached{src, from.sin_port, req->id, req->authenticator, *out, now});
  return *out;
}

}  // namespace vpn::radius
