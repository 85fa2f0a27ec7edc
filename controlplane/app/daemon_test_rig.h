// An in-process Daemon driven the way the IKE engine and the wire drive it,
// for the daemon's tests and perf/cp_sa_bench.cc. Each client gets
//   - an ESP pair installed as our Quick Mode responder does it (inbound
//     half + OnChildSaInbound, outbound half + OnChildSaInstalled),
//   - an L2TP tunnel and session from our own LAC through the LNS entry
//     point, on the SA the client sends with (what the dataplane would punt),
//     with the LNS's replies taken off the inject ring and handed back,
//   - the dataplane session its PPP address brings (OnNetworkUp).
// Nothing runs the event loop: every step is synchronous, so a test can
// check the daemon's state between any two events. DaemonProbe is a friend
// of Daemon (daemon.h); header-only because only tests and benches use it.
#pragma once

#include <arpa/inet.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "daemon.h"
#include "l2tp/lac.h"
#include "l2tp/wire.h"
#include "timer_queue.h"

namespace vpn::cp {

class DaemonProbe {
 public:
  struct Client;

  // The client's L2TP: what its LAC sends reaches the LNS as the dataplane
  // punts it, with the inbound SA the client currently encrypts with.
  class ClientWire : public l2tp::Transport {
   public:
    ClientWire(DaemonProbe& p, Client& c) : p_(p), c_(c) {}
    void SendL2tp(const l2tp::PeerBinding&, std::span<const uint8_t> msg) override {
      p_.FromClient(c_, msg);
    }

   private:
    DaemonProbe& p_;
    Client& c_;
  };

  struct Client {
    uint32_t ip = 0;             // network order
    uint16_t port = 0;           // host order: its NAT-T and L2TP port alike
    bool raw_esp = false;        // not behind NAT: ESP without UDP, IKE from port 500
    ChildSaHandle sa;            // the pair its IKE SA holds as current
    l2tp::PeerBinding sends_on;  // how the LNS sees its L2TP
    uint64_t id = 0;             // its ClientRecord
    uint16_t lac_session = 0;
    std::unique_ptr<ClientWire> wire;
    std::unique_ptr<l2tp::Lac> lac;
  };

  // The embedded default configuration with names private to this process
  // and `tag`, and tables for `clients` sessions (each holds an SA pair, a
  // rekey a second one until the old is deleted).
  static absl::StatusOr<config::Config> TestConfig(const std::string& tag, uint32_t clients) {
    absl::StatusOr<config::Config> c = config::ParseConfigString(config::kDefaultConfig, "rig.toml");
    if (!c.ok()) return c.status();
    std::string name = absl::StrFormat("vpn-rig-%s-%d", tag, getpid());
    for (char& ch : name)  // one path component (gtest names may hold '/')
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-') ch = '_';
    c->shm_name = "/" + name;
    c->control_socket = "/tmp/" + name + ".sock";
    c->dataplane.max_sessions = clients + 2;
    c->dataplane.max_sas = 2 * clients + 1024;
    return c;
  }
  // Warnings and errors only: a line per client event would be most of
  // what a benchmark measures (the embedded default logs at info).
  static void Quiet() {
    for (int s = 0; s < int(log::Subsystem::kCount); ++s)
      log::SetLevel(log::Subsystem(s), log::Level::kWarn);
  }
  // What a test removes afterwards (the daemon leaves both behind, as a
  // restart must find the segment).
  static void Cleanup(const config::Config& c) {
    shm::Segment::Unlink(c.shm_name);
    unlink(c.control_socket.c_str());
  }

  explicit DaemonProbe(Daemon& d) : d_(d) { lac_cfg_.hostname = "rig-lac"; }
  ~DaemonProbe() {
    closing_ = true;  // LACs going away say nothing more to the LNS
    clients_.clear();
  }
  DaemonProbe(const DaemonProbe&) = delete;
  DaemonProbe& operator=(const DaemonProbe&) = delete;

  Daemon& daemon() { return d_; }
  l2tp::Lns& lns() { return *d_.lns_; }
  ShmTables& tables() { return *d_.tables_; }
  const std::map<uint64_t, ClientRecord>& records() const { return d_.clients_; }
  const SaBindings& bindings() const { return *d_.bindings_; }
  std::deque<Client>& clients() { return clients_; }

  // --- IKE: Quick Mode as our responder runs it ----------------------------

  // Message 2 leaves: the new inbound SA is live. Returns its index.
  absl::StatusOr<uint32_t> QuickMode2(Client& c) {
    absl::StatusOr<uint32_t> spi = d_.tables_->AllocateInboundSpi();
    if (!spi.ok()) return spi.status();
    absl::StatusOr<uint32_t> in = d_.tables_->InstallInbound(Pair(c, *spi));
    if (!in.ok()) {
      d_.tables_->ReleaseInboundSpi(*spi);
      return in.status();
    }
    spi_of_[*in] = *spi;
    d_.OnChildSaInbound(*in, Info(c, *spi));
    return *in;
  }
  // Message 3 arrived: the outbound half goes live; the client's IKE SA now
  // holds this pair as current.
  absl::StatusOr<ChildSaHandle> QuickMode3(Client& c, uint32_t inbound) {
    const uint32_t spi = spi_of_[inbound];
    absl::StatusOr<ChildSaHandle> h = d_.tables_->CompleteOutbound(inbound, Pair(c, spi));
    if (!h.ok()) return h.status();
    d_.OnChildSaInstalled(*h, Info(c, spi));
    c.sa = *h;
    return *h;
  }
  // Message 3 never came.
  void AbortQuickMode(uint32_t inbound) {
    spi_of_.erase(inbound);
    d_.tables_->AbortInbound(inbound);
    d_.OnChildSaAborted(inbound);
  }
  // DELETE (or expiry) of a pair.
  void DeleteChild(const ChildSaHandle& h) {
    spi_of_.erase(h.inbound_index);
    (void)d_.tables_->Remove(h);
    d_.OnChildSaDeleted(h);
  }
  // A whole rekey as Windows runs it: Quick Mode, the client moves to the new
  // pair, then deletes the old one.
  absl::Status Rekey(Client& c) {
    const ChildSaHandle old = c.sa;
    absl::StatusOr<uint32_t> in = QuickMode2(c);
    if (!in.ok()) return in.status();
    absl::StatusOr<ChildSaHandle> h = QuickMode3(c, *in);
    if (!h.ok()) return h.status();
    c.sends_on.sa_index = h->inbound_index;
    DeleteChild(old);
    return absl::OkStatus();
  }

  // --- Control-plane restart ----------------------------------------------

  // The shared-memory segment as a killed control plane leaves it (the
  // dataplane keeps it): take the image while the daemon runs, destroy the
  // daemon (its destructor closes sessions a kill -9 would not), then put
  // the image back before the next daemon starts and adopts the records.
  static std::vector<uint8_t> SnapshotSegment(const Daemon& d) {
    return std::vector<uint8_t>(d.seg_.base(), d.seg_.base() + d.seg_.size());
  }
  static absl::Status RestoreSegment(const config::Config& c, std::vector<uint8_t> image) {
    if (image.size() < sizeof(shm::Header)) return absl::InvalidArgumentError("no image");
    // The killed process is gone: no control plane holds the segment.
    reinterpret_cast<shm::Header*>(image.data())->cp_pid.store(0);
    const std::string path = "/dev/shm" + c.shm_name;
    FILE* f = std::fopen(path.c_str(), "r+b");
    if (!f) return absl::NotFoundError(path + ": cannot open");
    const bool ok = std::fwrite(image.data(), 1, image.size(), f) == image.size();
    std::fclose(f);
    unlink(c.control_socket.c_str());
    return ok ? absl::OkStatus() : absl::InternalError(path + ": short write");
  }
  // An IKE SA with the peer came up (Main Mode done).
  void IkeSaUp(uint32_t ip, uint16_t port) {
    d_.OnIkeSaEstablished(0, ike::Endpoint{ip, port}, "rig");
  }
  void ExpireOrphans() { d_.ExpireOrphans(); }
  uint64_t orphans_removed() const { return d_.counters().orphans_removed; }

  // --- Clients ---------------------------------------------------------------

  // A client at ip (network order) and port, up to its dataplane session
  // (without `network_up`, up to its PPP session: NetworkUp does the rest).
  absl::StatusOr<Client*> Connect(uint32_t ip, uint16_t port, bool network_up = true,
                                  bool raw_esp = false) {
    Client& c = clients_.emplace_back();
    c.ip = ip;
    c.port = port;
    c.raw_esp = raw_esp;
    by_addr_[Key(ip, port)] = &c;
    absl::StatusOr<uint32_t> in = QuickMode2(c);
    if (!in.ok()) return in.status();
    absl::StatusOr<ChildSaHandle> h = QuickMode3(c, *in);
    if (!h.ok()) return h.status();
    c.sends_on.sa_index = h->inbound_index;
    c.sends_on.peer_ip = ip;
    c.sends_on.peer_port = port;
    c.sends_on.local_ip = kLocalIp;
    c.wire = std::make_unique<ClientWire>(*this, c);
    c.lac = std::make_unique<l2tp::Lac>(lac_cfg_, lac_timers_, *c.wire, l2tp::PeerBinding{});
    if (absl::Status s = c.lac->OpenTunnel(); !s.ok()) return s;
    Pump();
    if (c.lac->tunnel_state() != l2tp::LacTunnelState::kEstablished)
      return absl::InternalError("L2TP tunnel did not come up");
    const uint64_t id = d_.next_client_id_;
    absl::StatusOr<uint16_t> sid = c.lac->OpenSession(
        [](PppLink&, const L2tpSessionInfo&) { return std::make_unique<SilentEndpoint>(); });
    if (!sid.ok()) return sid.status();
    c.lac_session = *sid;
    Pump();
    if (d_.next_client_id_ == id || !d_.clients_.contains(id))
      return absl::InternalError("the LNS made no PPP session");
    c.id = id;
    if (!network_up) return &c;
    if (absl::Status s = NetworkUp(c); !s.ok()) return s;
    return &c;
  }
  // IPCP agreed on the client's address: the daemon installs its dataplane
  // session.
  absl::Status NetworkUp(Client& c) {
    ppp::NetworkUp up;
    up.ip = 0x64400000u + uint32_t(c.id);  // 100.64.x.y, host order
    up.user = "rig";
    d_.OnNetworkUp(c.id, up);
    if (!d_.clients_.contains(c.id) || d_.clients_.at(c.id).dp_session == 0)
      return absl::InternalError("no dataplane session");
    return absl::OkStatus();
  }
  // The Nth client's address: up to 1000 NAT ports per public address.
  static std::pair<uint32_t, uint16_t> AddressOf(uint32_t n) {
    return {htonl(0xC6120000u + 10 + n / 1000), uint16_t(20000 + n % 1000)};
  }

  // Hands what the control plane injected to the LACs (and drains the
  // update ring as the dataplane would), until nothing more comes.
  void Pump() {
    for (int round = 0; round < 64; ++round) {
      d_.io_->FlushBacklog();
      bool any = false;
      shm::RingHeader* r = d_.seg_.inject_ring();
      while (uint8_t* slot = shm::RingPeek(r)) {
        shm::PacketMeta m;
        std::memcpy(&m, slot, sizeof m);
        std::vector<uint8_t> data(slot + sizeof m, slot + sizeof m + m.length);
        shm::RingPop(r);
        any = true;
        Deliver(m, data);
      }
      while (shm::RingPeek(d_.seg_.update_ring())) shm::RingPop(d_.seg_.update_ring());
      if (!any && d_.io_->backlog() == 0) break;
    }
    d_.tables_->Poll();  // no dataplane: freed slots are reusable at once
  }

 private:
  class SilentEndpoint : public PppEndpoint {
   public:
    void OnPppFrame(std::span<const uint8_t>) override {}
    void OnLinkDown(std::string_view) override {}
  };

  static constexpr uint32_t kLocalIp = 0x010012C6;  // 198.18.0.1, network order
  void FromClient(const Client& c, std::span<const uint8_t> msg) {
    if (d_.lns_ && !closing_) d_.lns_->OnControlMessage(c.sends_on, msg);
  }
  static uint64_t Key(uint32_t ip, uint16_t port) { return uint64_t(ip) << 16 | port; }

  void Deliver(const shm::PacketMeta& m, std::span<const uint8_t> data) {
    if (m.kind != uint16_t(shm::InjectKind::kL2tpViaSa)) return;  // IKE, PPP: nobody listens
    auto it = by_addr_.find(Key(m.outer_dst_ip, ntohs(m.inner_dst_port)));
    if (it == by_addr_.end() || !it->second->lac) return;
    l2tp::Header h;
    if (l2tp::ParseHeader(data, &h) != l2tp::HeaderError::kOk) return;
    if (h.control) it->second->lac->OnControlMessage(data);
    else it->second->lac->OnDataMessage(data);
  }

  ChildSaInstall Pair(const Client& c, uint32_t inbound_spi) const {
    ChildSaInstall sa;
    sa.ike_sa_cookie = 0x1000 + c.port;
    sa.local_ip = kLocalIp;
    sa.peer_ip = c.ip;
    sa.local_port = c.raw_esp ? 0 : htons(4500);
    sa.peer_port = c.raw_esp ? 0 : htons(c.port);
    sa.encap = c.raw_esp ? shm::Encap::kNone : shm::Encap::kUdp;
    sa.inbound = {inbound_spi, std::vector<uint8_t>(16, 0x11), {}, std::vector<uint8_t>(20, 0x22)};
    sa.outbound = {0xC0000000u | inbound_spi >> 4, std::vector<uint8_t>(16, 0x33), {},
                   std::vector<uint8_t>(20, 0x44)};
    sa.lifetime_seconds = 3600;
    return sa;
  }
  ike::ChildSaInfo Info(const Client& c, uint32_t inbound_spi) const {
    ike::ChildSaInfo i;
    i.ike_sa = 0x1000 + c.port;
    i.local = {kLocalIp, uint16_t(c.raw_esp ? 500 : 4500)};
    i.remote = {c.ip, uint16_t(c.raw_esp ? 500 : c.port)};
    i.peer_id = "rig";
    i.inbound_spi = inbound_spi;
    i.suite = "aes128-sha1";
    i.udp_encap = !c.raw_esp;
    return i;
  }

  Daemon& d_;
  config::L2tp lac_cfg_;
  ManualTimerQueue lac_timers_;  // the LACs' own timers never need to fire
  std::deque<Client> clients_;   // stable addresses: wires point at them
  absl::flat_hash_map<uint64_t, Client*> by_addr_;
  absl::flat_hash_map<uint32_t, uint32_t> spi_of_;  // inbound index -> its SPI
  bool closing_ = false;
};

}  // namespace vpn::cp
