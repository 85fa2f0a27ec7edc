// The whole IKEv1 Responder (controlplane/ike) fed datagrams, with a
// RecordingSaSink and a ManualTimerQueue. Our own Initiator first drives
// the responder to a chosen stage so fuzzed messages land in every state,
// and fuzzed payload chains can be sealed with the live phase 1 keys (and
// given a correct HASH(1)) so they reach the decrypted-message code.
//
// Setup byte: bits 0-2 stage (0 fresh, 1 after MM1, 2 after MM4 = waiting
// for MM5, 3 phase 1 established, 4+ Quick Mode done), bit 3 client behind
// NAT, bit 4 Windows 11 proposal list (MODP groups) instead of ECP-256,
// bit 5 stricter server (PFS required, weak ESP refused).
//
// Records (records.h), kinds modulo 6:
//   0 raw datagram from the client's address
//   1 sealed: exchange(1) message-id(4) first-payload(1) flags(1) chain...;
//     flags bit 0 prepends HASH = prf(SKEYID_a, M-ID | chain) (RFC 2409
//     5.5/5.7), bit 1 sets the commit flag; message id 0 uses the phase 1 IV
//   2 advance the clock by u16 seconds
//   3 deliver queued traffic both ways (our initiator answers)
//   4 initiator action (quick mode, DPD, delete child, rekey, delete SA)
//   5 operator action on the responder (list, delete by peer, delete SA)
//
// Invariant checked at the end: once every IKE SA is deleted, no ESP SA is
// left installed in the sink.
#include "fuzz_common.h"
#include "ike_fuzz_config.h"
#include "keys.h"
#include "records.h"
#include "test_net.h"

namespace vpn::ike::testing {
namespace {

using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;
using fuzzing::ClientConfig;
using fuzzing::ServerConfig;

class Rig {
 public:
  explicit Rig(uint8_t setup)
      : stage_(std::min(setup & 7, 4)),
        net_(timers_, ServerConfig(setup & 0x20), (setup & 0x08) != 0) {
    FUZZ_CHECK(net_.server->init_status().ok());
    to_ = net_.server_ep;
    from_ = {Ip("198.18.0.10"), kIkePort};
    if (stage_ == 0) return;
    InitiatorOptions o;
    o.auto_quick_mode = stage_ >= 4;
    client_ = &net_.AddClient(ClientConfig(setup & 0x10), o);
    auto id = client_->ike->Connect(client_->local, net_.server_ep);
    FUZZ_CHECK(id.ok());
    client_sa_ = *id;
    const int deliveries[] = {0, 1, 4, 200, 200};
    net_.Pump(deliveries[stage_]);
    for (const Packet& p : net_.wire)
      if (p.to_server) {
        from_ = p.src;
        to_ = p.dst;
      }
    Silence();
  }

  void Run(const Record& r) {
    switch (r.kind % 6) {
      case 0:
        net_.server->OnDatagram(to_, from_, r.data);
        break;
      case 1:
        Sealed(r.data);
        break;
      case 2:
        timers_.Advance(absl::Seconds(Cursor(r.data).U16()));
        break;
      case 3:
        Live();
        break;
      case 4:
        ClientAction(Cursor(r.data).U8());
        break;
      case 5:
        ServerAction(Cursor(r.data).U8());
        break;
    }
    net_.Pump();  // silenced: only empties the queue
  }

  // Deletes every IKE SA; nothing may stay installed.
  void Finish() {
    if (std::getenv("FUZZ_DEBUG")) Dump();
    for (const IkeSaSummary& s : net_.server->ListIkeSas()) (void)s.state.size();
    for (int guard = 0; guard < 64 && net_.server->ike_sa_count() > 0; ++guard) {
      auto sas = net_.server->ListIkeSas();
      if (sas.empty()) break;
      net_.server->DeleteIkeSa(sas.front().id);
    }
    FUZZ_CHECK(net_.server->ike_sa_count() == 0);
    FUZZ_CHECK(net_.server_sink.installed().empty());
    net_.Pump();
  }

 private:
  // FUZZ_DEBUG=1: what the responder did with the input (seed checking).
  void Dump() const {
    const Counters& c = net_.server->counters();
    std::fprintf(stderr,
                 "stage %d: rx %lu tx %lu malformed %lu bad_cookie %lu unexpected %lu "
                 "decrypt_failed %lu invalid_hash %lu payload_malformed %lu established %lu "
                 "child_installed %lu qm_no_proposal %lu deletes_rx %lu dpd_rx %lu\n",
                 stage_, c.rx_datagrams, c.tx_datagrams, c.rx_malformed, c.rx_invalid_cookie,
                 c.rx_unexpected, c.rx_decrypt_failed, c.invalid_hash, c.payload_malformed,
                 c.ike_sa_established, c.child_sa_installed, c.qm_no_proposal_chosen,
                 c.deletes_received, c.dpd_received);
  }

  void Silence() {
    net_.drop = [](const Packet&) { return true; };
    net_.Pump();
  }
  void Live() {
    net_.drop = nullptr;
    net_.Pump(50);
    Silence();
  }

  const IkeSa* ClientSa() const {
    return client_ ? client_->ike->FindSa(client_sa_) : nullptr;
  }

  // A payload chain protected with the client's phase 1 keys, as the peer
  // would send it.
  void Sealed(ByteSpan data) {
    const IkeSa* sa = ClientSa();
    if (sa == nullptr || sa->keys.enc_key.empty() || sa->cipher.key.empty()) {
      net_.server->OnDatagram(to_, from_, data);
      return;
    }
    Cursor c(data);
    Header h;
    h.icookie = sa->icookie;
    h.rcookie = sa->rcookie;
    h.exchange = static_cast<ExchangeType>(c.U8());
    h.message_id = c.U32();
    const auto first = static_cast<PayloadType>(c.U8());
    const uint8_t fl = c.U8();
    if (fl & 2) h.flags |= flags::kCommit;
    ByteSpan chain = c.Rest();
    Bytes hashed;
    PayloadType chain_first = first;
    if (fl & 1) {
      // HASH payload: next = the fuzzed chain's first payload.
      Bytes mid;
      PutU32(mid, h.message_id);
      Bytes hash = Prf(sa->suite.hash, sa->keys.skeyid_a, Concat({mid, chain}));
      PutU8(hashed, static_cast<uint8_t>(first));
      PutU8(hashed, 0);
      PutU16(hashed, static_cast<uint16_t>(kGenericHeaderSize + hash.size()));
      Append(hashed, hash);
      Append(hashed, chain);
      chain = hashed;
      chain_first = PayloadType::kHash;
    }
    const size_t bs = BlockSize(sa->cipher.alg);
    const Bytes iv = h.message_id == 0 ? Phase1Iv(sa->suite.hash, sa->gxi, sa->gxr, bs)
                                       : Phase2Iv(sa->suite.hash, sa->last_p1_block,
                                                  h.message_id, bs);
    auto sealed = Seal(h, chain_first, chain, sa->cipher, iv);
    if (sealed.ok()) net_.server->OnDatagram(to_, from_, sealed->msg);
  }

  void ClientAction(uint8_t what) {
    if (client_ == nullptr || ClientSa() == nullptr) return;
    Initiator& ike = *client_->ike;
    switch (what % 5) {
      case 0:
        (void)ike.StartQuickMode(client_sa_);
        break;
      case 1:
        (void)ike.SendDpd(client_sa_);
        break;
      case 2:
        if (!client_->sink.installed().empty())
          (void)ike.DeleteChild(client_sa_, client_->sink.installed().begin()->second.inbound.spi);
        break;
      case 3:
        if (auto id = ike.RekeyIkeSa(client_sa_); id.ok()) client_sa_ = *id;
        break;
      case 4:
        ike.DeleteIkeSa(client_sa_);
        break;
    }
    Live();
  }

  void ServerAction(uint8_t what) {
    Responder& r = *net_.server;
    switch (what % 3) {
      case 0:
        for (const IkeSaSummary& s : r.ListIkeSas()) (void)r.FindSa(s.id);
        break;
      case 1:
        (void)r.DeleteByPeer(from_.ip, (what & 0x80) ? std::optional<uint16_t>(from_.port)
                                                     : std::nullopt);
        break;
      case 2:
        if (auto sas = r.ListIkeSas(); !sas.empty()) r.DeleteIkeSa(sas.back().id);
        break;
    }
  }

  const int stage_;
  cp::ManualTimerQueue timers_;
  Net net_;
  Net::Client* client_ = nullptr;
  uint64_t client_sa_ = 0;
  Endpoint from_, to_;
};

}  // namespace
}  // namespace vpn::ike::testing

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  vpn::ike::testing::Rig rig(in.Setup());
  vpn::fuzz::Record r;
  while (in.Next(&r)) rig.Run(r);
  rig.Finish();
  return 0;
}
