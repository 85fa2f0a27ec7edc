// IKEv1 wire decoding (controlplane/ike payloads.cc, proposal.cc,
// protection.cc) on arbitrary bytes. Besides "no crash", every decoder that
// accepts its input must round-trip: Parse(Encode(Parse(x))) == Parse(x),
// the suite mapping TransformTo*Suite must accept what *SuiteToTransform
// built from its own result, and Seal/Open must give back the chain.
//
// Input: byte 0 picks the first payload type of the chain (and the cipher
// for Seal/Open); the rest is the body handed to every decoder.
#include "fuzz_common.h"
#include "payloads.h"
#include "proposal.h"
#include "protection.h"

namespace vpn::ike {
namespace {

template <typename T, typename Enc, typename Dec>
void RoundTrip(ByteSpan body, Enc enc, Dec dec) {
  absl::StatusOr<T> a = dec(body);
  if (!a.ok()) return;
  Bytes again = enc(*a);
  absl::StatusOr<T> b = dec(again);
  FUZZ_CHECK(b.ok());
  FUZZ_CHECK(*a == *b);
}

void SuiteMapping(const SaPayload& sa) {
  for (const Proposal& p : sa.proposals) {
    for (const Transform& t : p.transforms) {
      if (auto o = TransformToIkeSuite(t); o.ok()) {
        (void)o->suite.ToString();
        Transform back = IkeSuiteToTransform(o->suite, t.number, o->life);
        auto o2 = TransformToIkeSuite(back);
        FUZZ_CHECK(o2.ok());
        FUZZ_CHECK(o2->suite == o->suite);
      }
      if (auto o = TransformToEspSuite(t.id, t); o.ok()) {
        (void)o->suite.ToString();
        Transform back = EspSuiteToTransform(o->suite, t.number, o->encap_mode, o->life);
        auto o2 = TransformToEspSuite(back.id, back);
        FUZZ_CHECK(o2.ok());
        FUZZ_CHECK(o2->suite == o->suite);
        FUZZ_CHECK(o2->encap_mode == o->encap_mode);
      }
    }
  }
}

void SealOpen(uint8_t sel, PayloadType first, ByteSpan chain) {
  static const Bytes kKey = FromHex("000102030405060708090a0b0c0d0e0f1011121314151617");
  CipherState c;
  c.alg = (sel & 0x40) ? CipherAlg::k3desCbc : CipherAlg::kAesCbc;
  c.key = Bytes(kKey.begin(), kKey.begin() + (c.alg == CipherAlg::kAesCbc ? 16 : 24));
  const Bytes iv(BlockSize(c.alg), 0x5c);
  // Arbitrary ciphertext: decrypts to noise that the chain walker must reject
  // or accept without trouble.
  Bytes dgram;
  Header h;
  h.icookie = 1;
  h.rcookie = 2;
  h.exchange = ExchangeType::kIdentityProtection;
  h.next = first;
  h.flags = flags::kEncryption;
  h.length = uint32_t(kHeaderSize + chain.size());
  EncodeHeader(h, dgram);
  Append(dgram, chain);
  if (auto o = Open(dgram, c, iv); o.ok()) (void)AfterHash(o->msg);
  // Our own sealing of the bytes must open to the chain as padded with
  // zeros to whole blocks (RFC 2408 3.1): a last payload may run into them.
  const size_t bs = BlockSize(c.alg);
  Bytes padded(chain.begin(), chain.end());
  padded.resize(std::max(bs, (padded.size() + bs - 1) / bs * bs), 0);
  auto plain = ParseChain(first, padded);
  auto sealed = Seal(h, first, chain, c, iv);
  FUZZ_CHECK(sealed.ok());
  auto opened = Open(sealed->msg, c, iv);
  FUZZ_CHECK(opened.ok() == plain.ok());
  if (!plain.ok()) return;
  FUZZ_CHECK(opened->msg.payloads.size() == plain->size());
  for (size_t i = 0; i < plain->size(); ++i) {
    FUZZ_CHECK(opened->msg.payloads[i].type == (*plain)[i].type);
    FUZZ_CHECK(opened->msg.payloads[i].body == (*plain)[i].body);
  }
  (void)AfterHash(opened->msg);
}

void Messages(ByteSpan data) {
  auto m = ParsePlainMessage(data);
  if (!m.ok()) return;
  Bytes again = BuildPlainMessage(m->hdr, m->payloads);
  auto m2 = ParsePlainMessage(again);
  FUZZ_CHECK(m2.ok());
  FUZZ_CHECK(m2->payloads.size() == m->payloads.size());
  for (size_t i = 0; i < m->payloads.size(); ++i) {
    FUZZ_CHECK(m2->payloads[i].type == m->payloads[i].type);
    FUZZ_CHECK(m2->payloads[i].body == m->payloads[i].body);
  }
  // What the exchange classes do with the payloads they find.
  for (const RawPayload& p : m->payloads) {
    switch (p.type) {
      case PayloadType::kSa:
        if (auto sa = ParseSa(p.body); sa.ok()) SuiteMapping(*sa);
        break;
      case PayloadType::kId:
        if (auto id = ParseId(p.body); id.ok()) (void)id->ToString();
        break;
      case PayloadType::kNotify:
        if (auto n = ParseNotify(p.body); n.ok()) {
          (void)ParseLifetimeAttributes(n->data, true);
          (void)ParseLifetimeAttributes(n->data, false);
        }
        break;
      default:
        break;
    }
  }
}

}  // namespace
}  // namespace vpn::ike

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vpn::ike;
  vpn::fuzz::QuietLogs();
  if (size == 0) return 0;
  const uint8_t sel = data[0];
  const ByteSpan body(data + 1, size - 1);
  const auto first = static_cast<PayloadType>(sel & 0x3f);

  (void)ParseHeader(body);
  Messages(body);
  (void)ParseChain(first, body);
  RoundTrip<SaPayload>(body, EncodeSa, ParseSa);
  if (auto sa = ParseSa(body); sa.ok()) SuiteMapping(*sa);
  RoundTrip<IdPayload>(body, EncodeId, ParseId);
  if (auto id = ParseId(body); id.ok()) {
    (void)id->ToString();
    (void)id->Ipv4Address();
  }
  RoundTrip<NotifyPayload>(body, EncodeNotify, ParseNotify);
  RoundTrip<DeletePayload>(body, EncodeDelete, ParseDelete);
  RoundTrip<CertPayload>(body, EncodeCert, ParseCert);
  RoundTrip<NatOaPayload>(body, EncodeNatOa, ParseNatOa);
  if (auto attrs = ParseAttributes(body); attrs.ok()) {
    Bytes again;
    EncodeAttributes(*attrs, again);
    auto attrs2 = ParseAttributes(again);
    FUZZ_CHECK(attrs2.ok() && *attrs2 == *attrs);
    for (const Attribute& a : *attrs) (void)a.AsNumber();
  }
  (void)ParseLifetimeAttributes(body, sel & 1);
  // Configuration strings go through the same suite parser.
  const std::string_view text(reinterpret_cast<const char*>(body.data()), body.size());
  if (auto s = ParseIkeSuite(text); s.ok()) FUZZ_CHECK(ParseIkeSuite(s->ToString()).ok());
  if (auto s = ParseEspSuite(text); s.ok()) FUZZ_CHECK(ParseEspSuite(s->ToString()).ok());
  SealOpen(sel, first, body);
  return 0;
}
