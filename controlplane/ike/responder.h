// The concentrator's IKEv1 responder (the daemon's entry point).
//
//   ike::Responder r(config.ike, loop, shm_sa_sink, udp_transport, events);
//   r.OnDatagram(local, remote, payload_without_non_esp_marker);
//
// IKE SAs are keyed by cookies and remember each peer's (ip, port), so
// several clients behind one NAT each get their own IKE and ESP SAs.
#pragma once

#include "engine.h"

namespace vpn::ike {

class Responder {
 public:
  Responder(const config::Ike& cfg, cp::TimerQueue& timers, cp::SaSink& sink,
            Transport& transport, Events& events, const ResponderOptions& ropts = {})
      : engine_(cfg, timers, sink, transport, events, /*responder=*/true) {
    engine_.set_responder_options(ropts);
  }

  // Configuration problems (bad proposal strings); check after construction.
  const absl::Status& init_status() const { return engine_.init_status(); }

  void OnDatagram(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) {
    engine_.OnDatagram(local, remote, msg);
  }

  // Operator reload (Engine::Reconfigure).
  absl::Status Reconfigure(const config::Ike& cfg) { return engine_.Reconfigure(cfg); }

  // Operator CLI.
  std::vector<IkeSaSummary> ListIkeSas() const { return engine_.ListIkeSas(); }
  // Deletes the peer's IKE and ESP SAs (DELETE sent); returns how many IKE SAs.
  int DeleteByPeer(uint32_t ip_net, std::optional<uint16_t> port = std::nullopt) {
    return engine_.DeleteByPeer(ip_net, port);
  }
  bool DeleteIkeSa(uint64_t id) { return engine_.DeleteIkeSaById(id); }
  const Counters& counters() const { return engine_.counters(); }
  size_t ike_sa_count() const { return engine_.ike_sa_count(); }
  // For tests and `show` detail.
  const IkeSa* FindSa(uint64_t id) const { return engine_.FindSa(id); }
  absl::Status SendDpd(uint64_t id) { return engine_.SendDpd(id); }

 private:
  Engine engine_;
};

}  // namespace vpn::ike
