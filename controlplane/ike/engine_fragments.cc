// The engine's side of IKE fragmentation (fragments.h): reassembly of
// incoming payload-132 datagrams before dispatch, and fragmenting our own
// large messages for peers that announced FRAGMENTATION.
#include "engine.h"
#include "vpn/log.h"

namespace vpn::ike {

void Engine::OnFragment(const Endpoint& local, const Endpoint& remote, ByteSpan msg) {
  ++counters_.fragments_received;
  auto f = ParseFragment(msg);
  if (!f.ok()) {
    ++counters_.fragments_dropped;
    VPN_LOG(ike, kPacket, "%s: dropped fragment: %s", remote.ToString(),
            std::string(f.status().message()));
    return;
  }
  Bytes whole;
  switch (reassembler_.Add(remote, *f, timers_.Now(), &whole)) {
    case Reassembler::Outcome::kIncomplete:
    case Reassembler::Outcome::kDuplicate:
      return;
    case Reassembler::Outcome::kDropped:
      ++counters_.fragments_dropped;
      VPN_LOG(ike, kPacket, "%s: dropped fragment %d of ID %d (limits or inconsistent)",
              remote.ToString(), f->number, f->id);
      return;
    case Reassembler::Outcome::kComplete:
      break;
  }
  // The whole must be one ordinary ISAKMP message of the same cookies.
  auto h = ParseHeader(whole);
  if (!h.ok() || h->next == PayloadType::kFragment || h->icookie != f->hdr.icookie ||
      h->rcookie != f->hdr.rcookie || (h->version >> 4) != 1) {
    ++counters_.fragments_dropped;
    VPN_LOG(ike, kPacket, "%s: reassembled message is not a valid ISAKMP message",
            remote.ToString());
    return;
  }
  ++counters_.fragments_reassembled;
  if (IkeSa* sa = LookupForMessage(*h)) sa->peer_frag = true;  // it can reassemble ours too
  Dispatch(local, remote, whole, *h);
}

void Engine::Send(IkeSa& sa, ByteSpan msg) {
  // IPv4 + UDP headers, and the non-ESP marker on 4500 (RFC 3948 2.2).
  const size_t overhead = 20 + 8 + (sa.local.port == kNatTPort ? 4 : 0);
  if (sa.peer_frag && cfg_.fragment_size > overhead && msg.size() + overhead > cfg_.fragment_size) {
    std::vector<Bytes> frags =
        FragmentMessage(msg, cfg_.fragment_size - overhead, sa.next_fragment_id++);
    if (!frags.empty()) {
      VPN_LOG(ike, kPacket, "%s: %d-byte message in %d fragments", sa.PeerName(), msg.size(),
              frags.size());
      for (const Bytes& f : frags) {
        ++counters_.fragments_sent;
        SendRaw(sa.local, sa.remote, f);
      }
      return;
    }
  }
  SendRaw(sa.local, sa.remote, msg);
}

}  // namespace vpn::ike
