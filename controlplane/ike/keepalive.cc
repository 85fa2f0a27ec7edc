// NAT-keepalives (RFC 3948 4): a peer that finds itself behind a NAT (the
// first NAT-D of the other side did not match its own address, RFC 3947
// 3.2) sends a one-octet 0xFF UDP datagram from port 4500 every
// nat_keepalive_s seconds (default 20), so the NAT keeps the mapping that
// ESP-in-UDP and IKE on 4500 need. A superseded IKE SA (phase 1 rekey)
// leaves this to its successor.
#include "engine.h"
#include "vpn/log.h"

namespace vpn::ike {

void Engine::StartNatKeepalive(IkeSa& sa) {
  if (cfg_.nat_keepalive_s == 0 || !sa.local_behind_nat || sa.nat_t == NatT::kNone ||
      sa.superseded)
    return;
  if (sa.keepalive_timer) timers_.Cancel(sa.keepalive_timer);
  sa.keepalive_timer =
      ScheduleOn(sa, absl::Seconds(cfg_.nat_keepalive_s), [this](IkeSa& s) {
        s.keepalive_timer = 0;
        if (s.superseded) return;
        ++counters_.nat_keepalives_sent;
        VPN_LOG(ike, kPacket, "%s: NAT-keepalive", s.PeerName());
        transport_.SendNatKeepalive(s.local, s.remote);
        StartNatKeepalive(s);
      });
}

}  // namespace vpn::ike
