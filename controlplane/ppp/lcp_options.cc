// LCP configuration options (RFC 1661 section 6) as a table of what we do
// with each, in both directions:
//
//   type  option            peer requests it          we request it
//   1     MRU               ack (Nak below 128)       ppp.mtu; adopt a Nak
//   2     ACCM              ack (meaningless on L2TP) client knob only
//   3     Auth-Protocol     server: reject;           server: first method,
//                           client: ack if we can,    next one on Nak
//                           else Nak our preference
//   5     Magic-Number      ack; Nak 0 and our own    random, new on Nak
//                           (loop detection, 6.4)
//   7/8   PFC / ACFC        ack, remembered for the   client knobs only
//                           dataplane
//   other (4 quality, 13 callback, 17 MRRU, 18 SSN, 19 endpoint
//          discriminator, 23 link discriminator (BACP), ...)  reject;
//          the client side can request such options (extra_options) to
//          behave like Windows, and drops each one the peer refuses
//
// A request carrying our own Magic-Number is answered with a Nak of the
// Magic-Number alone (RFC 1661 6.4), even if other options would be
// rejected: on a looped-back link we then see our own Nak, pick a new
// number, and after Max-Failure such rounds report the loop for what it is.
#include "auth_method.h"
#include "lcp.h"
#include "vpn/log.h"

namespace vpn::ppp {

using config::AuthMethod;

bool Lcp::WantExtra(uint8_t type) const {
  for (const Bytes& o : want_extra_)
    if (!o.empty() && o[0] == type) return true;
  return false;
}

void Lcp::DropExtra(uint8_t type) {
  std::erase_if(want_extra_,
                [type](const Bytes& o) { return o.empty() || o[0] == type; });
}

std::optional<AuthMethod> Lcp::CurrentAuth() const {
  if (!want_auth_ || auth_index_ >= settings_.request_auth.size())
    return std::nullopt;
  return settings_.request_auth[auth_index_];
}

Bytes Lcp::BuildRequestOptions() {
  Bytes o;
  if (want_mru_) AppendOptionU16(o, kLcpMru, want_mru_);
  if (want_accm_) AppendOptionU32(o, kLcpAccm, 0);
  if (auto m = CurrentAuth()) AppendOption(o, kLcpAuthProtocol, AuthOptionValue(*m));
  if (want_magic_) AppendOptionU32(o, kLcpMagicNumber, magic_);
  if (want_pfc_) AppendOption(o, kLcpPfc, {});
  if (want_acfc_) AppendOption(o, kLcpAcfc, {});
  for (const Bytes& extra : want_extra_) PutBytes(o, extra);
  return o;
}

RcrVerdict Lcp::JudgeRequest(ByteSpan options, bool nak_as_reject,
                             Bytes* reply) {
  auto opts = ParseOptions(options);
  if (!opts) return RcrVerdict::kDiscard;
  Bytes nak, nak_raw, rej;
  bool looped = false;
  Option own_magic;
  LcpResult peer;  // the peer's side of the result, committed on Ack
  auto reject = [&](const Option& o) { PutBytes(rej, o.raw); };
  for (const Option& o : *opts) {
    switch (o.type) {
      case kLcpMru: {
        if (o.value.size() != 2) { reject(o); break; }
        const uint16_t mru = ReadU16(o.value, 0);
        if (mru < kMinMru) {
          AppendOptionU16(nak, kLcpMru, kMinMru);
          PutBytes(nak_raw, o.raw);
          break;
        }
        peer.peer_mru = mru;
        break;
      }
      case kLcpAccm:
        // L2TP is not an async HDLC link (RFC 2661 section 4.4.4): the map
        // is acknowledged and otherwise ignored.
        if (o.value.size() != 4) reject(o);
        break;
      case kLcpAuthProtocol: {
        if (settings_.server || settings_.accept_auth.empty()) {
          reject(o);  // we do not authenticate ourselves to the client
          break;
        }
        auto m = ParseAuthOption(o.value);
        bool ok = false;
        for (AuthMethod a : settings_.accept_auth) ok |= m && a == *m;
        if (ok) {
          peer.auth = m;
        } else {
          AppendOption(nak, kLcpAuthProtocol,
                       AuthOptionValue(settings_.accept_auth.front()));
          PutBytes(nak_raw, o.raw);
        }
        break;
      }
      case kLcpMagicNumber: {
        if (o.value.size() != 4) { reject(o); break; }
        const uint32_t m = ReadU32(o.value, 0);
        if (m != 0 && !(want_magic_ && m == magic_)) {
          peer.peer_magic = m;
          break;
        }
        if (m != 0) {
          // RFC 1661 6.4: the peer's magic equals ours. Either a looped-back
          // link or a coincidence: both sides pick new numbers; repeated
          // collisions mean a loop.
          magic_ = NewMagic();
          looped = true;
          own_magic = o;
          if (++loop_suspicions_ >= fsm_config_.max_failure) {
            events_.LcpFatal("looped-back link (magic number)");
          }
        }
        AppendOptionU32(nak, kLcpMagicNumber, NewMagic());
        PutBytes(nak_raw, o.raw);
        break;
      }
      case kLcpPfc:
        if (!o.value.empty()) { reject(o); break; }
        peer.peer_pfc = true;
        break;
      case kLcpAcfc:
        if (!o.value.empty()) { reject(o); break; }
        peer.peer_acfc = true;
        break;
      default:
        reject(o);
    }
  }
  if (looped) {
    // Only the Magic-Number (see the top of this file).
    reply->clear();
    if (nak_as_reject) {
      PutBytes(*reply, own_magic.raw);
      return RcrVerdict::kReject;
    }
    AppendOptionU32(*reply, kLcpMagicNumber, NewMagic());
    return RcrVerdict::kNak;
  }
  if (!rej.empty()) {
    *reply = std::move(rej);
    return RcrVerdict::kReject;
  }
  if (!nak.empty()) {
    *reply = nak_as_reject ? std::move(nak_raw) : std::move(nak);
    return nak_as_reject ? RcrVerdict::kReject : RcrVerdict::kNak;
  }
  result_.peer_mru = peer.peer_mru;
  result_.peer_magic = peer.peer_magic;
  result_.peer_pfc = peer.peer_pfc;
  result_.peer_acfc = peer.peer_acfc;
  if (!settings_.server) result_.auth = peer.auth;
  reply->assign(options.begin(), options.end());
  return RcrVerdict::kAck;
}

void Lcp::OnAck(ByteSpan) {
  result_.our_mru = want_mru_ ? want_mru_ : kDefaultMru;
  result_.our_magic = want_magic_ ? magic_ : 0;
  if (settings_.server) result_.auth = CurrentAuth();
}

bool Lcp::OnNak(ByteSpan options) {
  auto opts = ParseOptions(options);
  if (!opts) return false;
  for (const Option& o : *opts) {
    switch (o.type) {
      case kLcpMru:
        if (o.value.size() == 2) {
          const uint16_t mru = ReadU16(o.value, 0);
          if (mru >= kMinMru && mru <= kDefaultMru) want_mru_ = mru;
        }
        break;
      case kLcpMagicNumber:
        magic_ = NewMagic();
        break;
      case kLcpAuthProtocol: {
        if (!settings_.server || !want_auth_) break;
        const auto& list = settings_.request_auth;
        if (auth_index_ < auth_tried_.size()) auth_tried_[auth_index_] = true;
        const auto suggested = ParseAuthOption(o.value);
        size_t next = list.size();
        for (size_t i = 0; i < list.size() && suggested; ++i)
          if (list[i] == *suggested && !auth_tried_[i]) next = i;
        for (size_t i = 0; i < list.size() && next == list.size(); ++i)
          if (!auth_tried_[i]) next = i;
        if (next == list.size()) {
          events_.LcpFatal("no common authentication method (peer suggested " +
                           HexString(o.value) + ")");
        } else {
          VPN_LOG(ppp, kEvent, "LCP: peer Naks %s, trying %s",
                  AuthMethodName(list[auth_index_]), AuthMethodName(list[next]));
          auth_index_ = next;
        }
        break;
      }
      case kLcpAccm: want_accm_ = false; break;
      case kLcpPfc: want_pfc_ = false; break;
      case kLcpAcfc: want_acfc_ = false; break;
      default:
        // A counter-offer for an extra option (e.g. another callback
        // operation) is not worth a second round: stop asking. Anything
        // else is a suggestion to request something we do not want.
        DropExtra(o.type);
        break;
    }
  }
  return true;
}

bool Lcp::OnReject(ByteSpan options) {
  auto opts = ParseOptions(options);
  if (!opts) return false;
  // RFC 1661 5.4: a Reject may only name options we requested.
  for (const Option& o : *opts) {
    const bool ours = (o.type == kLcpMru && want_mru_) ||
                      (o.type == kLcpAccm && want_accm_) ||
                      (o.type == kLcpAuthProtocol && CurrentAuth()) ||
                      (o.type == kLcpMagicNumber && want_magic_) ||
                      (o.type == kLcpPfc && want_pfc_) ||
                      (o.type == kLcpAcfc && want_acfc_) || WantExtra(o.type);
    if (!ours) return false;
  }
  for (const Option& o : *opts) {
    switch (o.type) {
      case kLcpMru: want_mru_ = 0; break;
      case kLcpAccm: want_accm_ = false; break;
      case kLcpMagicNumber: want_magic_ = false; break;
      case kLcpPfc: want_pfc_ = false; break;
      case kLcpAcfc: want_acfc_ = false; break;
      default: DropExtra(o.type); break;
      case kLcpAuthProtocol:
        // We never run without authentication.
        events_.LcpFatal("peer refuses to authenticate");
        break;
    }
  }
  return true;
}

}  // namespace vpn::ppp
