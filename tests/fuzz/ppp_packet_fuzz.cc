// PPP packet and option decoding (controlplane/ppp packet.cc, lcp_options.cc,
// ipcp.cc, auth_method.cc) on arbitrary bytes. The option judges of LCP and
// IPCP, server and client, get the bytes as a Configure-Request, -Nak,
// -Reject and -Ack. Oracles from RFC 1661:
//  - a request is discarded exactly when its option list does not parse;
//  - a Configure-Reject lists options of the request verbatim and in order
//    (5.4), a Configure-Nak is itself a well-formed option list (5.3);
//  - ParseControlPacket/ParseOptions never reach beyond their input.
//
// Input: byte 0 flags (bit 0: nak_as_reject), then the option bytes /
// packet.
#include "auth_method.h"
#include "fuzz_common.h"
#include "ipcp.h"
#include "lcp.h"
#include "packet.h"
#include "ppp_defs.h"

namespace vpn::ppp {
namespace {

struct NullEvents : LcpEvents, IpcpEvents {
  void LcpUp() override {}
  void LcpDown() override {}
  void LcpFinished() override {}
  void LcpFatal(std::string) override {}
  void LcpProtocolRejected(uint16_t) override {}
  void LcpEchoTimeout() override {}
  void IpcpUp() override {}
  void IpcpDown() override {}
  void IpcpFinished() override {}
};

// Every option of `reply` appears in `request`, in the same order.
bool IsOrderedSubset(ByteSpan reply, ByteSpan request) {
  auto rep = ParseOptions(reply);
  auto req = ParseOptions(request);
  if (!rep || !req) return false;
  size_t j = 0;
  for (const Option& o : *rep) {
    while (j < req->size() &&
           !std::equal(o.raw.begin(), o.raw.end(), (*req)[j].raw.begin(), (*req)[j].raw.end()))
      ++j;
    if (j == req->size()) return false;
    ++j;
  }
  return true;
}

void Judge(FsmProtocol& p, ByteSpan opts, bool nak_as_reject) {
  Bytes reply;
  const RcrVerdict v = p.JudgeRequest(opts, nak_as_reject, &reply);
  const bool parses = ParseOptions(opts).has_value();
  FUZZ_CHECK((v == RcrVerdict::kDiscard) == !parses);
  if (v == RcrVerdict::kReject) FUZZ_CHECK(IsOrderedSubset(reply, opts));
  if (v == RcrVerdict::kNak) FUZZ_CHECK(ParseOptions(reply).has_value());
  // Whatever was decided, the other replies must not trip over the bytes.
  (void)p.OnNak(opts);
  (void)p.OnReject(opts);
  p.OnAck(opts);
  (void)p.BuildRequestOptions();
}

void Protocols(ByteSpan opts, bool nak_as_reject, uint8_t sel) {
  cp::ManualTimerQueue timers;
  NullEvents ev;
  FsmConfig fc;
  auto send = [](const Bytes&) {};
  using config::AuthMethod;
  LcpSettings server;
  server.server = true;
  server.request_auth = {AuthMethod::kMschapV2, AuthMethod::kChap, AuthMethod::kPap};
  Lcp lcp_server(server, fc, timers, send, ev);
  Judge(lcp_server, opts, nak_as_reject);
  LcpSettings client;
  client.server = false;
  client.accept_auth = {AuthMethod::kMschapV2, AuthMethod::kEapMd5, AuthMethod::kMschapV1};
  client.request_accm = client.request_pfc = client.request_acfc = sel & 2;
  Lcp lcp_client(client, fc, timers, send, ev);
  Judge(lcp_client, opts, nak_as_reject);

  IpcpServerSettings is;
  is.local_ip = 0x64400001;
  is.peer_ip = 0x64400005;
  is.dns = {0x0A000035, (sel & 4) ? 0x0A000036u : 0u};
  is.wins = {(sel & 8) ? 0x0A000037u : 0u, 0};
  IpcpServer ipcp_server(is, fc, timers, send, ev);
  Judge(ipcp_server, opts, nak_as_reject);
  IpcpClientSettings ic;
  ic.request_wins = sel & 0x10;
  ic.request_vj = sel & 0x20;
  IpcpClient ipcp_client(ic, fc, timers, send, ev);
  Judge(ipcp_client, opts, nak_as_reject);

  // LCP-only codes (RFC 1661 5.7-5.9) on the same bytes as a packet.
  if (auto pkt = ParseControlPacket(opts)) {
    (void)lcp_server.ClassifyExtendedCode(*pkt);
    (void)lcp_server.EchoReplyData(*pkt);
    (void)lcp_client.ClassifyCodeReject(pkt->code);
  }
}

}  // namespace
}  // namespace vpn::ppp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::ppp;
  vpn::fuzz::QuietLogs();
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  const ByteSpan body(data + 1, size - 1);

  if (auto proto = ParseProtocol(body)) {
    FUZZ_CHECK((*proto & 0x0100) == 0 && (*proto & 1) == 1);
    (void)ProtocolName(*proto);
  }
  if (auto p = ParseControlPacket(body)) {
    FUZZ_CHECK(p->data.size() + 4 <= body.size());
    FUZZ_CHECK(p->whole.size() == p->data.size() + 4);
    FUZZ_CHECK(p->whole.data() == body.data());
    Bytes again = BuildControlFrame(kProtoLcp, p->code, p->id, p->data);
    auto q = ParseControlPacket(ByteSpan(again).subspan(2));
    FUZZ_CHECK(q && q->code == p->code && q->id == p->id);
    FUZZ_CHECK(std::equal(q->data.begin(), q->data.end(), p->data.begin(), p->data.end()));
  }
  if (auto opts = ParseOptions(body)) {
    size_t total = 0;
    Bytes again;
    for (const Option& o : *opts) {
      FUZZ_CHECK(o.raw.size() == o.value.size() + 2);
      total += o.raw.size();
      AppendOption(again, o.type, o.value);
    }
    FUZZ_CHECK(total == body.size());
    FUZZ_CHECK(again == Bytes(body.begin(), body.end()));
  }
  if (auto m = ParseAuthOption(body)) {
    Bytes v = AuthOptionValue(*m);
    FUZZ_CHECK(ParseAuthOption(v) == m);
    (void)AuthProtocolNumber(*m);
  }
  const std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
  if (auto h = ParseHex(text)) FUZZ_CHECK(h->size() * 2 == text.size());
  (void)Printable(body);
  Protocols(body, sel & 1, sel);
  return 0;
}
