// Our IKEv1 initiator: Main Mode PSK + Quick Mode transport (UDP 1701) with
// NAT-T, for exchange tests and the client simulator. Offers whatever
// `cfg.proposals` / `cfg.esp_proposals` list, e.g. Windows11IkeProposals().
#pragma once

#include "engine.h"

namespace vpn::ike {

class Initiator {
 public:
  Initiator(const config::Ike& cfg, cp::TimerQueue& timers, cp::SaSink& sink,
            Transport& transport, Events& events, InitiatorOptions opts = {})
      : engine_(cfg, timers, sink, transport, events, /*responder=*/false, std::move(opts)) {}

  const absl::Status& init_status() const { return engine_.init_status(); }

  // Starts Main Mode (then Quick Mode when opts.auto_quick_mode). Returns the
  // IKE SA id (our initiator cookie).
  absl::StatusOr<uint64_t> Connect(const Endpoint& local, const Endpoint& remote) {
    return engine_.StartMainMode(local, remote);
  }
  // Phase 1 rekey: a new Main Mode from the same (floated) endpoints as the
  // old SA; ESP SAs move to the new SA when it completes.
  absl::StatusOr<uint64_t> RekeyIkeSa(uint64_t old_id) {
    const IkeSa* sa = engine_.FindSa(old_id);
    if (!sa) return absl::NotFoundError("no such IKE SA");
    return engine_.StartMainMode(sa->local, sa->remote);
  }
  absl::Status StartQuickMode(uint64_t id) { return engine_.StartQuickMode(id); }
  // Phase 2 rekey of the child whose inbound SPI is `old_inbound_spi`.
  absl::Status RekeyChild(uint64_t id, uint32_t old_inbound_spi) {
    return engine_.StartQuickMode(id, old_inbound_spi);
  }
  absl::Status DeleteChild(uint64_t id, uint32_t inbound_spi) {
    return engine_.DeleteChild(id, inbound_spi);
  }
  bool DeleteIkeSa(uint64_t id) { return engine_.DeleteIkeSaById(id); }
  absl::Status SendDpd(uint64_t id) { return engine_.SendDpd(id); }

  void OnDatagram(const Endpoint& local, const Endpoint& remote, std::span<const uint8_t> msg) {
    engine_.OnDatagram(local, remote, msg);
  }
  const IkeSa* FindSa(uint64_t id) const { return engine_.FindSa(id); }
  std::vector<IkeSaSummary> ListIkeSas() const { return engine_.ListIkeSas(); }
  const Counters& counters() const { return engine_.counters(); }

 private:
  Engine engine_;
};

}  // namespace vpn::ike
