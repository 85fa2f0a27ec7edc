// Engine operations for the operator CLI and the initiator API.
#include "engine.h"
#include "exchanges.h"
#include "vpn/log.h"

namespace vpn::ike {

std::vector<IkeSaSummary> Engine::ListIkeSas() const {
  std::vector<IkeSaSummary> out;
  absl::Time now = timers_.Now();
  for (const auto& [id, sa] : sas_) {
    IkeSaSummary s;
    s.id = id;
    s.icookie = sa->icookie;
    s.rcookie = sa->rcookie;
    s.initiator = sa->initiator;
    s.state = std::string(SaStateName(sa->state));
    s.local = sa->local;
    s.remote = sa->remote;
    s.peer_id = sa->peer_id ? sa->peer_id->ToString() : "";
    s.suite = sa->state == SaState::kMmI1Sent ? "" : sa->suite.ToString();
    s.nat_t = sa->nat_t == NatT::kNone ? "none" : sa->nat_t == NatT::kDraft ? "draft" : "rfc3947";
    s.peer_behind_nat = sa->peer_behind_nat;
    s.age = now - sa->created;
    s.lifetime_left = sa->established()
                          ? sa->established_at + absl::Seconds(sa->lifetime_s) - now
                          : absl::ZeroDuration();
    s.child_sas = sa->children.size();
    out.push_back(s);
  }
  return out;
}

int Engine::DeleteByPeer(uint32_t ip_net, std::optional<uint16_t> port) {
  std::vector<uint64_t> ids;
  for (const auto& [id, sa] : sas_)
    if (sa->remote.ip == ip_net && (!port || sa->remote.port == *port)) ids.push_back(id);
  for (uint64_t id : ids)
    if (IkeSa* sa = Find(id)) DeleteIkeSa(*sa, "deleted by operator", true);
  return static_cast<int>(ids.size());
}

bool Engine::DeleteIkeSaById(uint64_t id) {
  IkeSa* sa = Find(id);
  if (!sa) return false;
  DeleteIkeSa(*sa, "deleted by operator", true);
  return true;
}

absl::StatusOr<uint64_t> Engine::StartMainMode(const Endpoint& local, const Endpoint& remote) {
  if (!init_status_.ok()) return init_status_;
  IkeSa& sa = CreateSa(true, local, remote, 0);
  auto st = opts_.aggressive ? am_initiator_->Start(sa) : mm_initiator_->Start(sa);
  if (!st.ok()) {
    uint64_t id = sa.id();
    if (IkeSa* s = Find(id)) DeleteIkeSa(*s, "start failed", false);
    return st;
  }
  return sa.id();
}

absl::Status Engine::StartQuickMode(uint64_t ike_sa, uint32_t replaces_inbound_spi) {
  IkeSa* sa = Find(ike_sa);
  if (!sa || !sa->established()) return absl::NotFoundError("no such established IKE SA");
  return qm_initiator_->Start(*sa, replaces_inbound_spi);
}

absl::Status Engine::DeleteChild(uint64_t ike_sa, uint32_t inbound_spi) {
  IkeSa* sa = Find(ike_sa);
  if (!sa) return absl::NotFoundError("no such IKE SA");
  RemoveChild(*sa, inbound_spi, true, "deleted locally");
  return absl::OkStatus();
}

std::vector<AuthMethod> Engine::AllowedAuth(const Endpoint& remote) const {
  const std::string ip = FormatIp(remote.ip);
  for (const config::IkePeer& p : cfg_.peers) {
    if (p.id != ip) continue;
    if (p.auth == config::IkeAuth::kCert) {
      if (certs_) return {AuthMethod::kRsaSig};
      return {};
    }
    return {AuthMethod::kPsk};
  }
  std::vector<AuthMethod> out;
  bool psk = !cfg_.psk.empty();
  for (const config::IkePeer& p : cfg_.peers) psk |= p.auth == config::IkeAuth::kPsk;
  if (psk) out.push_back(AuthMethod::kPsk);
  if (certs_) out.push_back(AuthMethod::kRsaSig);
  return out;
}

bool Engine::AuthAllowedForId(const IdPayload& id, AuthMethod used) const {
  std::string name = id.ToString();
  for (const config::IkePeer& p : cfg_.peers) {
    if (p.id != name) continue;
    bool cert = p.auth == config::IkeAuth::kCert;
    return cert == (used == AuthMethod::kRsaSig);
  }
  return true;
}

}  // namespace vpn::ike
