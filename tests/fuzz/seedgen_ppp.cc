// PPP seeds: our ClientSession against our ServerSession for every
// authentication method (exchange_harness.h), the frames each side sent
// becoming records of ppp_session / ppp_auth and bodies of ppp_packet.
#include "auth_method.h"
// By path: controlplane/l2tp has an exchange_harness.h too.
#include "../../controlplane/ppp/exchange_harness.h"
#include "ppp_fuzz_world.h"
#include "ppp_defs.h"
#include "seedgen.h"

namespace vpn::fuzz::seedgen {
namespace {

using namespace vpn::ppp;
using config::AuthMethod;
using ppp::testing::Ip;
using ppp::testing::Pair;
using ppp::testing::World;

constexpr AuthMethod kMethods[] = {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                                   AuthMethod::kMschapV2, AuthMethod::kEapMd5};

uint16_t AuthProto(AuthMethod m) {
  return m == AuthMethod::kEapMd5 ? kProtoEap : AuthProtocolNumber(m);
}

}  // namespace

void PppSeeds(Sink& s) {
  for (int mi = 0; mi < 5; ++mi) {
    const AuthMethod m = kMethods[mi];
    const std::string tag(AuthMethodName(m));
    std::vector<Bytes> from_client, from_server;
    {
      World w(ppp::testing::PppSessionFuzzConfig(m));
      Pair p(w, ppp::testing::PppSessionFuzzClient(m));
      p.Start();
      p.RunUntilUp();
      p.RunFor(absl::Seconds(1));
      p.client->Disconnect("bye");
      p.RunUntilBothDown();
      from_server = p.sent(0);
      from_client = p.sent(1);
    }
    // ppp_session: the client's frames into a fresh server, paced.
    RecordWriter fresh{uint8_t(mi)};
    for (const Bytes& f : from_client) fresh.Add(0, f).Add(1, {3});
    s.Write("ppp_session", tag + "_client_frames", fresh);
    RecordWriter up(uint8_t(mi | (2 << 3)));
    for (const Bytes& f : from_client)
      if (f.size() >= 3 && (ReadU16(f, 0) == kProtoIpcp || ReadU16(f, 0) == kProtoLcp)) up.Add(0, f);
    up.Add(2, Be16(6500)).Add(0, {0xC0, 0x21, 9, 7, 0, 8, 1, 2, 3, 4}).Add(3, {});
    s.Write("ppp_session", tag + "_network", up);
    RecordWriter live(uint8_t(mi | (1 << 3) | 0x20));
    for (const Bytes& f : from_server) live.Add(4, f).Add(1, {10});
    s.Write("ppp_session", tag + "_auth_live", live);

    // ppp_auth: each role gets the other's packets of the method.
    const uint16_t proto = AuthProto(m);
    RecordWriter as_server{uint8_t(mi)}, as_server_async(uint8_t(mi | 0x10));
    RecordWriter as_client(uint8_t(mi | 0x08));
    for (const Bytes& f : from_client)
      if (f.size() > 2 && ReadU16(f, 0) == proto) {
        const ByteSpan pl = ByteSpan(f).subspan(2);
        as_server.Add(0, pl);
        as_server_async.Add(0, pl).Add(1, Be16(2)).Add(2, {});
      }
    for (const Bytes& f : from_server)
      if (f.size() > 2 && ReadU16(f, 0) == proto) as_client.Add(0, ByteSpan(f).subspan(2));
    as_client.Add(1, Be16(40));
    s.Write("ppp_auth", tag + "_server", as_server);
    s.Write("ppp_auth", tag + "_server_async", as_server_async);
    s.Write("ppp_auth", tag + "_client", as_client);

    // ppp_packet: whole packets and option lists.
    int n = 0;
    for (const std::vector<Bytes>* side : {&from_client, &from_server})
      for (const Bytes& f : *side) {
        if (f.size() < 6) continue;
        const std::string name = tag + "_" + std::to_string(n++);
        s.WriteSel("ppp_packet", name, 0, ByteSpan(f).subspan(2));
        const uint16_t pr = ReadU16(f, 0);
        if ((pr == kProtoLcp || pr == kProtoIpcp) && f[2] >= 1 && f[2] <= 4)
          s.WriteSel("ppp_packet", name + "_opts", uint8_t(n), ByteSpan(f).subspan(6));
      }
  }
}

}  // namespace vpn::fuzz::seedgen
