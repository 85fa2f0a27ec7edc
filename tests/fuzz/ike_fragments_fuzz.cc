// IKEv1 fragments (controlplane/ike fragments.h): ParseFragment on
// arbitrary datagrams and a Reassembler fed the accepted ones, with small
// limits so they are reached. Checks: the reassembler stays within its
// limits, every reassembled message fits max_message, and FragmentMessage
// of a message built from the input reassembles to exactly that message in
// any arrival order.
//
// Input: byte 0 = fragment size for the round trip (64 + 4*b), byte 1 =
// arrival permutation seed; then records `length(2), datagram` fed to the
// reassembler from source (record index % 3); the whole input (after byte
// 2) is also the body of the round-trip message.
#include <algorithm>
#include <random>

#include "fragments.h"
#include "fuzz_common.h"

namespace vpn::ike {
namespace {

void RoundTrip(ByteSpan body, size_t frag_size, uint8_t seed) {
  Header h;
  h.icookie = 0x0102030405060708;
  h.rcookie = 0x1112131415161718;
  h.next = PayloadType::kId;
  h.exchange = ExchangeType::kIdentityProtection;
  h.length = static_cast<uint32_t>(kHeaderSize + body.size());
  if (h.length > 65535) return;  // ISAKMP messages we reassemble are at most this long
  Bytes msg;
  EncodeHeader(h, msg);
  Append(msg, body);
  std::vector<Bytes> dgrams = FragmentMessage(msg, frag_size, 7);
  if (dgrams.empty()) return;  // more than 255 fragments
  std::vector<Fragment> frags;
  for (const Bytes& d : dgrams) {
    FUZZ_CHECK(d.size() <= frag_size);
    auto f = ParseFragment(d);
    FUZZ_CHECK(f.ok());
    frags.push_back(*f);
  }
  std::mt19937 rng(seed);
  std::shuffle(frags.begin(), frags.end(), rng);
  ReassemblyLimits l;
  l.max_fragments = 255;
  Reassembler r(l);
  Bytes out;
  int complete = 0;
  for (const Fragment& f : frags)
    complete += r.Add({1, 2}, f, absl::UnixEpoch(), &out) == Reassembler::Outcome::kComplete;
  FUZZ_CHECK(complete == 1);
  FUZZ_CHECK(out == msg);
  FUZZ_CHECK(r.pending() == 0 && r.pending_bytes() == 0);
}

}  // namespace
}  // namespace vpn::ike

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::ike;
  vpn::fuzz::QuietLogs();
  if (size < 2) return 0;
  ReassemblyLimits l;
  l.max_fragments = 8;
  l.max_message = 2048;
  l.max_pending = 4;
  l.max_pending_per_ip = 2;
  l.max_bytes = 4096;
  Reassembler r(l);
  absl::Time now = absl::UnixEpoch();
  Reader rd(ByteSpan(data + 2, size - 2));
  uint16_t len;
  ByteSpan rec;
  for (uint32_t i = 0; rd.U16(&len) && rd.Take(std::min<size_t>(len, rd.Rest().size()), &rec); ++i) {
    auto f = ParseFragment(rec);
    if (!f.ok()) continue;
    Bytes out;
    auto o = r.Add({i % 3, 500}, *f, now, &out);
    if (o == Reassembler::Outcome::kComplete) FUZZ_CHECK(out.size() <= l.max_message);
    FUZZ_CHECK(r.pending() <= l.max_pending);
    FUZZ_CHECK(r.pending_bytes() <= l.max_bytes);
    now += absl::Seconds(1);
  }
  RoundTrip(ByteSpan(data + 2, size - 2), 64 + 4 * size_t(data[0]), data[1]);
  return 0;
}
