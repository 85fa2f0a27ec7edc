// IKE seeds: a real Main Mode + Quick Mode between our initiator and our
// responder (test_net.h); the encrypted messages are opened with the
// initiator's keys so the seeds carry plaintext chains for the target's
// "sealed" records.
#include "ike_fuzz_config.h"
#include "keys.h"
#include "seedgen.h"
#include "test_net.h"

namespace vpn::fuzz::seedgen {
namespace {

using namespace vpn::ike;
using ike::testing::Net;
using ike::testing::Packet;
using ike::fuzzing::IkeSetup;

constexpr const char* kPayloads = "ike_payloads";
constexpr const char* kResponder = "ike_responder";

// Kinds of ike_responder_fuzz records.
enum : uint8_t { kRaw = 0, kSealed = 1, kTime = 2, kPump = 3, kClient = 4, kServer = 5 };

Bytes SealedRecord(ExchangeType x, uint32_t mid, PayloadType first, uint8_t flags,
                   ByteSpan chain) {
  Bytes r{static_cast<uint8_t>(x)};
  Bytes m = Be32(mid);
  r.insert(r.end(), m.begin(), m.end());
  r.push_back(static_cast<uint8_t>(first));
  r.push_back(flags);
  r.insert(r.end(), chain.begin(), chain.end());
  return r;
}

struct Capture {
  std::vector<Packet> wire;
  std::vector<Message> opened_to_server;  // decrypted client messages
  Message qm1;
  bool have_qm1 = false;
  Bytes mm5_chain;
  uint32_t server_inbound_spi = 0;  // the client's outbound
};

Capture Exchange(bool nat, bool windows) {
  Capture cap;
  cp::ManualTimerQueue timers;
  Net net(timers, ike::fuzzing::ServerConfig(false), nat);
  Net::Client& c = net.AddClient(ike::fuzzing::ClientConfig(windows));
  auto id = c.ike->Connect(c.local, net.server_ep);
  if (!id.ok()) return cap;
  net.Pump();
  cap.wire = net.wire;
  const IkeSa* sa = c.ike->FindSa(*id);
  if (sa == nullptr) return cap;
  const size_t bs = BlockSize(sa->cipher.alg);
  for (const Packet& p : net.wire) {
    if (!p.to_server) continue;
    auto h = ParseHeader(p.data);
    if (!h.ok() || !(h->flags & flags::kEncryption)) continue;
    Bytes iv = h->message_id == 0 ? Phase1Iv(sa->suite.hash, sa->gxi, sa->gxr, bs)
                                  : Phase2Iv(sa->suite.hash, sa->last_p1_block, h->message_id, bs);
    auto o = Open(p.data, sa->cipher, iv);
    if (!o.ok()) continue;  // QM3 is chained on QM2's IV: not needed
    if (h->exchange == ExchangeType::kIdentityProtection) cap.mm5_chain = EncodeChain(o->msg.payloads);
    if (h->exchange == ExchangeType::kQuickMode && !cap.have_qm1) {
      cap.qm1 = o->msg;
      cap.have_qm1 = true;
    }
    cap.opened_to_server.push_back(o->msg);
  }
  if (!c.sink.installed().empty()) cap.server_inbound_spi = c.sink.installed().begin()->second.outbound.spi;
  return cap;
}

void PayloadSeeds(Sink& s, const Capture& cap, const std::string& tag) {
  int n = 0;
  for (const Packet& p : cap.wire) {
    auto m = ParsePlainMessage(p.data);
    if (!m.ok()) continue;
    const std::string base = tag + "_msg" + std::to_string(n++);
    s.WriteSel(kPayloads, base, 0, p.data);
    s.WriteSel(kPayloads, base + "_chain", static_cast<uint8_t>(m->hdr.next),
               EncodeChain(m->payloads));
    int k = 0;
    for (const RawPayload& rp : m->payloads)
      s.WriteSel(kPayloads, base + "_p" + std::to_string(k++), static_cast<uint8_t>(rp.type),
                 rp.body);
  }
  for (const Message& m : cap.opened_to_server) {
    const std::string base = tag + "_enc" + std::to_string(n++);
    s.WriteSel(kPayloads, base, static_cast<uint8_t>(m.hdr.next), EncodeChain(m.payloads));
    int k = 0;
    for (const RawPayload& rp : m.payloads)
      s.WriteSel(kPayloads, base + "_p" + std::to_string(k++), static_cast<uint8_t>(rp.type),
                 rp.body);
  }
}

void ResponderSeeds(Sink& s, const Capture& cap, bool nat, bool windows, const std::string& tag) {
  std::vector<Bytes> to_server;
  for (const Packet& p : cap.wire)
    if (p.to_server) to_server.push_back(p.data);
  if (to_server.size() < 3) return;
  const Bytes& mm1 = to_server[0];
  const Bytes& mm3 = to_server[1];
  auto put = [&](const std::string& name, const RecordWriter& w) { s.Write(kResponder, tag + name, w); };

  put("_mm1", RecordWriter(IkeSetup(0, nat, windows)).Add(kRaw, mm1));
  put("_mm1_mm3", RecordWriter(IkeSetup(0, nat, windows)).Add(kRaw, mm1).Add(kRaw, mm3));
  put("_mm1_strict", RecordWriter(IkeSetup(0, nat, windows, true)).Add(kRaw, mm1));
  put("_half_open_expiry", RecordWriter(IkeSetup(1, nat, windows))
                               .Add(kRaw, mm1)
                               .Add(kTime, Be16(35))
                               .Add(kRaw, mm1)
                               .Add(kPump, {}));
  put("_mm3_again", RecordWriter(IkeSetup(2, nat, windows)).Add(kRaw, mm3).Add(kPump, {}));
  if (!cap.mm5_chain.empty())
    put("_mm5", RecordWriter(IkeSetup(2, nat, windows))
                    .Add(kSealed, SealedRecord(ExchangeType::kIdentityProtection, 0,
                                               PayloadType::kId, 0, cap.mm5_chain))
                    .Add(kPump, {}));
  if (cap.have_qm1 && cap.qm1.payloads.size() > 1) {
    std::vector<RawPayload> rest(cap.qm1.payloads.begin() + 1, cap.qm1.payloads.end());
    const Bytes chain = EncodeChain(rest);
    const Bytes qm1 = SealedRecord(ExchangeType::kQuickMode, 0x01020304, rest[0].type, 1, chain);
    put("_qm1", RecordWriter(IkeSetup(3, nat, windows)).Add(kSealed, qm1).Add(kPump, {}));
    put("_qm1_commit",
        RecordWriter(IkeSetup(3, nat, windows))
            .Add(kSealed, SealedRecord(ExchangeType::kQuickMode, 0x0badcafe, rest[0].type, 3, chain))
            .Add(kTime, Be16(20))
            .Add(kSealed, qm1));
    put("_qm1_strict", RecordWriter(IkeSetup(3, nat, windows, true)).Add(kSealed, qm1));
  }
  // Informational exchanges (RFC 2409 5.7) with a correct HASH(1).
  DeletePayload del_esp;
  del_esp.protocol = static_cast<uint8_t>(ProtocolId::kEsp);
  del_esp.spi_size = 4;
  del_esp.spis = {U32Bytes(cap.server_inbound_spi ? cap.server_inbound_spi
                                                  : shm::MakeSpi(1, 0xA5A))};
  put("_delete_esp",
      RecordWriter(IkeSetup(4, nat, windows))
          .Add(kSealed, SealedRecord(ExchangeType::kInformational, 0x11223344, PayloadType::kDelete,
                                     1, EncodeChain({Payload(PayloadType::kDelete,
                                                             EncodeDelete(del_esp))})))
          .Add(kPump, {}));
  DeletePayload del_ike;
  del_ike.spis = {Bytes(16, 0x42)};
  put("_delete_ike",
      RecordWriter(IkeSetup(3, nat, windows))
          .Add(kSealed, SealedRecord(ExchangeType::kInformational, 0x55667788, PayloadType::kDelete,
                                     1, EncodeChain({Payload(PayloadType::kDelete,
                                                             EncodeDelete(del_ike))}))));
  NotifyPayload dpd;
  dpd.spi = Bytes(16, 0x24);
  dpd.type = NotifyType::kRUThere;
  dpd.data = Be32(7);
  NotifyPayload ic;
  ic.spi = Bytes(16, 0x24);
  ic.type = NotifyType::kInitialContact;
  put("_dpd_initial_contact",
      RecordWriter(IkeSetup(4, nat, windows))
          .Add(kSealed, SealedRecord(ExchangeType::kInformational, 0x99, PayloadType::kNotify, 1,
                                     EncodeChain({Payload(PayloadType::kNotify, EncodeNotify(dpd))})))
          .Add(kSealed, SealedRecord(ExchangeType::kInformational, 0x9a, PayloadType::kNotify, 1,
                                     EncodeChain({Payload(PayloadType::kNotify, EncodeNotify(ic))})))
          .Add(kPump, {}));
  put("_actions", RecordWriter(IkeSetup(3, nat, windows))
                      .Add(kClient, {0})
                      .Add(kTime, Be16(3600))
                      .Add(kServer, {0})
                      .Add(kClient, {1})
                      .Add(kTime, Be16(200))
                      .Add(kServer, {1})
                      .Add(kServer, {2}));
  put("_rekey", RecordWriter(IkeSetup(4, nat, windows))
                    .Add(kClient, {3})
                    .Add(kClient, {2})
                    .Add(kTime, Be16(30000))
                    .Add(kClient, {4}));
}

}  // namespace

void IkeSeeds(Sink& s) {
  for (bool nat : {false, true})
    for (bool windows : {false, true}) {
      const std::string tag = std::string(nat ? "nat" : "direct") + (windows ? "_win" : "_ecp");
      Capture cap = Exchange(nat, windows);
      PayloadSeeds(s, cap, tag);
      ResponderSeeds(s, cap, nat, windows, tag);
    }
  // Configuration strings go through the same suite parser.
  for (const std::string& p : Windows11IkeProposals())
    s.WriteSel(kPayloads, "suite_" + p, 0, ByteSpan(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
}

}  // namespace vpn::fuzz::seedgen
