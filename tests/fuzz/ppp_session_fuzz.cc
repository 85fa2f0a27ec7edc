// The PPP ServerSession (controlplane/ppp) fed frames: LCP, the
// authentication protocols, IPCP, IPV6CP/CCP and unknown protocols. Our own
// ClientSession first brings the server to a chosen phase over the test
// harness's fake links (exchange_harness.h), so fuzzed frames land in
// Establish, Authenticate and Network as well as on a fresh session.
//
// Setup byte: bits 0-2 auth method (PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2,
// EAP-MD5), bits 3-4 stage (0 server started alone, 1 LCP opened, 2+ IPCP
// up), bit 5 our client keeps talking after setup.
// Records, kinds modulo 5:
//   0 frame to the server (from the protocol field)
//   1 run the pair for u8 steps of 10 ms
//   2 advance the clock by u16 x 100 ms
//   3 the L2TP session goes away (OnLinkDown)
//   4 frame to our client (it is fuzzed too)
//
// Checks, as in ppp/robustness_test.cc: once the pair is gone no address,
// user slot or timer is left.
#include "exchange_harness.h"
#include "ppp_fuzz_world.h"
#include "fuzz_common.h"
#include "records.h"

namespace vpn::ppp::testing {
namespace {

using config::AuthMethod;
using fuzz::Cursor;
using fuzz::Record;
using fuzz::RecordReader;

constexpr AuthMethod kMethods[] = {AuthMethod::kPap, AuthMethod::kChap, AuthMethod::kMschapV1,
                                   AuthMethod::kMschapV2, AuthMethod::kEapMd5};

void Run(RecordReader& in) {
  const uint8_t setup = in.Setup();
  const AuthMethod m = kMethods[(setup & 7) % 5];
  const int stage = std::min((setup >> 3) & 3, 2);
  World w(PppSessionFuzzConfig(m));
  {
    auto p = std::make_unique<Pair>(w, PppSessionFuzzClient(m));
    if (stage == 0) {
      p->server->Start();
    } else {
      p->Start();
      if (stage == 1)
        p->RunUntil([&] { return p->server->phase() >= PppPhase::kAuthenticate; },
                    absl::Seconds(10));
      else
        p->RunUntilUp(absl::Seconds(30));
    }
    if (!(setup & 0x20)) p->silence[1] = true;
    Record r;
    while (in.Next(&r)) {
      switch (r.kind % 5) {
        case 0:
          if (!p->server->finished()) p->server->OnPppFrame(r.data);
          break;
        case 1:
          for (int i = Cursor(r.data).U8(); i > 0; --i) p->Step();
          break;
        case 2:
          w.timers.Advance(absl::Milliseconds(100) * Cursor(r.data).U16());
          break;
        case 3:
          if (!p->server->finished()) p->server->OnLinkDown("fuzz: link down");
          break;
        case 4:
          if (stage > 0 && !p->client->finished()) p->client->OnPppFrame(r.data);
          break;
      }
    }
    if (p->server->finished()) {
      FUZZ_CHECK(w.pools->leased() == 0);
      FUZZ_CHECK(w.pools->SessionsOf("alice") == 0);
    } else {
      FUZZ_CHECK(w.pools->leased() <= 1);
    }
  }
  FUZZ_CHECK(w.pools->leased() == 0);
  FUZZ_CHECK(w.pools->SessionsOf("alice") == 0);
  FUZZ_CHECK(w.timers.pending() == 0);
}

}  // namespace
}  // namespace vpn::ppp::testing

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  vpn::ppp::testing::Run(in);
  return 0;
}
