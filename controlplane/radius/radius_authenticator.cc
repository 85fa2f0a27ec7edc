#include "radius_authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "vpn/log.h"

namespace vpn::radius {

using config::AuthMethod;
using ppp::AuthResult;
using ppp::AuthStatus;

RadiusAuthenticator::RadiusAuthenticator(Client& client, const config::Config& config)
    : client_(client), config_(config) {}

RadiusAuthenticator::~RadiusAuthenticator() {
  for (Client::RequestId rid : outstanding_) client_.Cancel(rid);
}

namespace {

AuthResult Fail(AuthStatus s, std::string why) {
  AuthResult r;
  r.status = s;
  r.message = std::move(why);
  return r;
}

// The client's public address from the session's peer string
// ("198.18.0.7:1701 tunnel 3 session 5").
std::string CallingStation(std::string_view peer) {
  const size_t end = peer.find_first_of(": ");
  return std::string(peer.substr(0, end));
}

}  // namespace

std::string GroupFromClass(ByteSpan class_value) {
  const std::string s = AsString(class_value);
  for (absl::string_view field : absl::StrSplit(s, ';')) {
    field = absl::StripAsciiWhitespace(field);
    if (field.size() > 3 && absl::StartsWithIgnoreCase(field, "OU=")) {
      return std::string(field.substr(3));
    }
  }
  return "";
}

absl::StatusOr<Packet> RadiusAuthenticator::BuildAccessRequest(const ppp::AuthRequest& req,
                                                               const config::Config& cfg) {
  Packet p;
  p.code = kAccessRequest;
  if (req.user_name.empty() || req.user_name.size() > kMaxAttrValueLen) {
    return absl::InvalidArgumentError("user name empty or longer than 253 octets");
  }
  p.AddString(kUserName, req.user_name);
  switch (req.method) {
    case AuthMethod::kPap:
      if (req.password.size() > 128) {
        return absl::InvalidArgumentError("PAP password longer than 128 octets");
      }
      p.AddString(kUserPassword, req.password);  // hidden by EncodeRequest
      break;
    case AuthMethod::kEapMd5:
      if (!req.eap_message.empty()) {
        // RFC 3579 3.1: the peer's EAP packet, split into 253-octet
        // EAP-Message attributes; State echoed from the Access-Challenge
        // (RFC 2865 5.24). Message-Authenticator is added below.
        if (req.eap_message.size() > 4000 || req.aaa_state.size() > kMaxAttrValueLen) {
          return absl::InvalidArgumentError("EAP packet or State too long");
        }
        p.AddSplit(kEapMessage, req.eap_message);
        if (!req.aaa_state.empty()) p.Add(kState, req.aaa_state);
        break;
      }
      [[fallthrough]];  // no pass-through: the MD5 response checked as CHAP
    case AuthMethod::kChap: {
      if (req.response.size() != 16 || req.challenge.empty() ||
          req.challenge.size() > kMaxAttrValueLen) {
        return absl::InvalidArgumentError("CHAP response must be 16 octets");
      }
      Bytes v = {req.chap_id};
      v.insert(v.end(), req.response.begin(), req.response.end());
      p.Add(kChapPassword, v);
      // Always sent: our challenge is not the Request Authenticator.
      p.Add(kChapChallenge, req.challenge);
      break;
    }
    case AuthMethod::kMschapV1: {
      if (req.challenge.size() != 8 || req.response.size() != 24) {
        return absl::InvalidArgumentError("MS-CHAPv1 needs an 8-octet challenge, 24-octet response");
      }
      // RFC 2548 2.3.2: Ident, Flags (1 = use the NT-Response), LM-Response,
      // NT-Response.
      Bytes v = {req.chap_id, 1};
      v.resize(2 + 24, 0);
      v.insert(v.end(), req.response.begin(), req.response.end());
      p.AddVendor(kVendorMicrosoft, kMsChapChallenge, req.challenge);
      p.AddVendor(kVendorMicrosoft, kMsChapResponse, v);
      break;
    }
    case AuthMethod::kMschapV2: {
      if (req.challenge.size() != 16 || req.peer_challenge.size() != 16 ||
          req.response.size() != 24) {
        return absl::InvalidArgumentError(
            "MS-CHAPv2 needs 16-octet challenges and a 24-octet response");
      }
      // RFC 2548 2.3.2: Ident, Flags (0), Peer-Challenge, Reserved (8 zero),
      // Response.
      Bytes v = {req.chap_id, 0};
      v.insert(v.end(), req.peer_challenge.begin(), req.peer_challenge.end());
      v.resize(v.size() + 8, 0);
      v.insert(v.end(), req.response.begin(), req.response.end());
      p.AddVendor(kVendorMicrosoft, kMsChapChallenge, req.challenge);
      p.AddVendor(kVendorMicrosoft, kMsChap2Response, v);
      break;
    }
  }
  p.AddU32(kServiceType, kServiceFramed);
  p.AddU32(kFramedProtocol, kFramedProtocolPpp);
  p.AddU32(kNasPortType, kNasPortTypeVirtual);
  if (!cfg.radius.nas_identifier.empty()) p.AddString(kNasIdentifier, cfg.radius.nas_identifier);
  if (cfg.radius.nas_ip) p.AddIpv4(kNasIpAddress, cfg.radius.nas_ip);
  const std::string calling = CallingStation(req.peer);
  if (!calling.empty()) p.AddString(kCallingStationId, calling);
  if (!req.peer.empty()) {
    p.AddString(kNasPortId, req.peer.substr(0, kMaxAttrValueLen));
  }
  // Computed by EncodeRequest (RFC 3579 3.2; RFC 5080 recommends it always).
  p.Add(kMessageAuthenticator, Bytes(kAuthenticatorLen, 0));
  return p;
}

ppp::AuthResult RadiusAuthenticator::InterpretReply(const ppp::AuthRequest& req,
                                                    const Packet& reply,
                                                    const config::Config& cfg, Grant* grant) {
  const std::optional<std::string> reply_message = reply.String(kReplyMessage);
  if (reply.code == kAccessReject) {
    std::string why = "rejected by the RADIUS server";
    if (auto e = reply.FindVendor(kVendorMicrosoft, kMsChapError); e && !e->empty()) {
      why += ": " + AsString(e->subspan(1));  // Ident, then "E=691 R=0 ..."
    } else if (reply_message) {
      why += ": " + *reply_message;
    }
    return Fail(AuthStatus::kBadCredentials, why);
  }
  const bool eap = !req.eap_message.empty();
  if (reply.code == kAccessChallenge) {
    // RFC 3579 2.1: the server's next EAP Request for the peer, with the
    // State to send back.
    const Bytes next = reply.Concat(kEapMessage);
    if (!eap || next.size() < 4) {
      return Fail(AuthStatus::kError,
                  absl::StrFormat("Access-Challenge without EAP is not supported for %s",
                                  ppp::AuthMethodName(req.method)));
    }
    AuthResult r;
    r.status = AuthStatus::kChallenge;
    r.eap_message = next;
    if (const Attribute* st = reply.Find(kState)) r.aaa_state = st->value;
    r.message = reply_message.value_or("");
    return r;
  }
  if (reply.code != kAccessAccept) return Fail(AuthStatus::kError, "unexpected reply code");
  if (eap) {
    // RFC 3579 2.6.1 / 3.1: an Accept for EAP carries EAP-Success.
    const Bytes m = reply.Concat(kEapMessage);
    if (!m.empty() && m[0] != 3) {
      return Fail(AuthStatus::kError, "Access-Accept whose EAP-Message is not an EAP Success");
    }
  }

  AuthResult r;
  r.status = AuthStatus::kSuccess;
  if (req.method == AuthMethod::kMschapV2) {
    // RFC 2548 2.3.3: Ident, then "S=" and 40 hex digits. Without it the
    // client cannot authenticate us and would hang up anyway.
    auto s = reply.FindVendor(kVendorMicrosoft, kMsChap2Success);
    const std::string text = s && s->size() > 1 ? AsString(s->subspan(1)) : "";
    if (text.size() < 42 || text.compare(0, 2, "S=") != 0) {
      return Fail(AuthStatus::kError, "Access-Accept without a valid MS-CHAP2-Success");
    }
    r.mschap2_authenticator_response = text.substr(0, 42);
  }
  const ppp::UserIdentity id = ppp::ResolveUserGroup(cfg, req.user_name);
  const std::optional<std::string> server_name = reply.String(kUserName);
  r.user = server_name && !server_name->empty() ? *server_name : id.lookup_name;
  if (id.explicit_group) r.group = id.explicit_group->name;
  Grant g;
  g.user_name = server_name && !server_name->empty() ? *server_name : req.user_name;
  for (ByteSpan c : reply.FindAll(kClass)) {
    g.classes.emplace_back(c.begin(), c.end());
    const std::string named = GroupFromClass(c);
    if (!named.empty()) r.group = named;  // the server's word over user@group
  }
  if (auto ip = reply.U32(kFramedIpAddress)) {
    // RFC 2865 5.8: 0xFFFFFFFF "user may select", 0xFFFFFFFE "NAS selects".
    if (*ip != 0xFFFFFFFFu && *ip != 0xFFFFFFFEu && *ip != 0) r.static_ip = *ip;
  }
  if (auto pool = reply.String(kFramedPool); pool && !pool->empty()) r.pool = *pool;
  if (auto t = reply.U32(kSessionTimeout); t && *t > 0) r.session_timeout_s = *t;
  if (auto t = reply.U32(kIdleTimeout); t && *t > 0) r.idle_timeout_s = *t;
  if (auto t = reply.U32(kAcctInterimInterval); t && *t > 0) {
    // RFC 2869 5.16: not less than 60 seconds.
    g.interim_interval_s = std::max<uint32_t>(*t, 60);
  }
  r.message = reply_message.value_or("");
  if (grant) *grant = std::move(g);
  return r;
}

void RadiusAuthenticator::Authenticate(const ppp::AuthRequest& request, Done done) {
  ++counters_.requests;
  absl::StatusOr<Packet> p = BuildAccessRequest(request, config_);
  if (!p.ok()) {
    done(Fail(AuthStatus::kBadCredentials, std::string(p.status().message())));
    return;
  }
  if (!client_.HasServer(Service::kAuth)) {
    done(Fail(AuthStatus::kError, "no RADIUS authentication server configured"));
    return;
  }
  // The request may be gone when the reply arrives: keep what we need.
  auto req = std::make_shared<ppp::AuthRequest>(request);
  auto rid = std::make_shared<Client::RequestId>(0);
  *rid = client_.Send(
      Service::kAuth, *std::move(p),
      [this, req, rid, done = std::move(done)](absl::StatusOr<Packet> reply) {
        outstanding_.erase(*rid);
        if (!reply.ok()) {
          ++counters_.unavailable;
          VPN_LOG(auth, kWarn, "%s: RADIUS: %s", req->peer, reply.status().message());
          done(Fail(AuthStatus::kError, std::string(reply.status().message())));
          return;
        }
        Grant grant;
        AuthResult r = InterpretReply(*req, *reply, config_, &grant);
        switch (reply->code) {
          case kAccessAccept:
            if (r.status == AuthStatus::kSuccess) {
              ++counters_.accepts;
              grants_[req->peer] = std::move(grant);
            } else {
              ++counters_.malformed_accepts;
            }
            break;
          case kAccessReject: ++counters_.rejects; break;
          case kAccessChallenge: ++counters_.challenges; break;
        }
        VPN_LOG(auth, kEvent, "%s: RADIUS %s for '%s' (%s)", req->peer, CodeName(reply->code),
                req->user_name, ppp::AuthMethodName(req->method));
        done(std::move(r));
      });
  outstanding_.insert(*rid);
}

std::optional<Grant> RadiusAuthenticator::TakeGrant(const std::string& peer) {
  auto it = grants_.find(peer);
  if (it == grants_.end()) return std::nullopt;
  Grant g = std::move(it->second);
  grants_.erase(it);
  return g;
}

}  // namespace vpn::radius
