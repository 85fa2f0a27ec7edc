#include "keys.h"

namespace vpn::ike {

Bytes SkeyidPsk(HashAlg h, ByteSpan psk, ByteSpan ni, ByteSpan nr) {
  return Prf(h, psk, Concat({ni, nr}));
}

Bytes SkeyidSig(HashAlg h, ByteSpan ni, ByteSpan nr, ByteSpan gxy) {
  return Prf(h, Concat({ni, nr}), gxy);
}

Phase1Keys DerivePhase1Keys(HashAlg h, Bytes skeyid, ByteSpan gxy, uint64_t cky_i,
                            uint64_t cky_r, size_t enc_key_len) {
  Phase1Keys k;
  k.skeyid = std::move(skeyid);
  Bytes ci = U64Bytes(cky_i), cr = U64Bytes(cky_r);
  const uint8_t zero = 0, one = 1, two = 2;
  k.skeyid_d = Prf(h, k.skeyid, Concat({gxy, ci, cr, ByteSpan(&zero, 1)}));
  k.skeyid_a = Prf(h, k.skeyid, Concat({k.skeyid_d, gxy, ci, cr, ByteSpan(&one, 1)}));
  k.skeyid_e = Prf(h, k.skeyid, Concat({k.skeyid_a, gxy, ci, cr, ByteSpan(&two, 1)}));
  k.enc_key = ExpandEncKey(h, k.skeyid_e, enc_key_len);
  return k;
}

Bytes ExpandEncKey(HashAlg h, ByteSpan skeyid_e, size_t len) {
  if (skeyid_e.size() >= len) return Bytes(skeyid_e.begin(), skeyid_e.begin() + len);
  Bytes out;
  Bytes k = Prf(h, skeyid_e, Bytes{0});
  while (true) {
    Append(out, k);
    if (out.size() >= len) break;
    k = Prf(h, skeyid_e, k);
  }
  out.resize(len);
  return out;
}

Bytes Phase1Iv(HashAlg h, ByteSpan gxi, ByteSpan gxr, size_t block) {
  Bytes iv = Hash(h, Concat({gxi, gxr}));
  iv.resize(block);
  return iv;
}

Bytes Phase2Iv(HashAlg h, ByteSpan last_phase1_block, uint32_t message_id, size_t block) {
  Bytes iv = Hash(h, Concat({last_phase1_block, U32Bytes(message_id)}));
  iv.resize(block);
  return iv;
}

Bytes Phase1AuthHash(HashAlg h, ByteSpan skeyid, ByteSpan g_first, ByteSpan g_second,
                     uint64_t cky_first, uint64_t cky_second, ByteSpan sai_b, ByteSpan id_b) {
  return Prf(h, skeyid,
             Concat({g_first, g_second, U64Bytes(cky_first), U64Bytes(cky_second), sai_b, id_b}));
}

Bytes Keymat(HashAlg h, ByteSpan skeyid_d, std::optional<ByteSpan> gxy_qm, uint8_t protocol,
             uint32_t spi, ByteSpan ni, ByteSpan nr, size_t len) {
  Bytes seed;
  if (gxy_qm) Append(seed, *gxy_qm);
  seed.push_back(protocol);
  Append(seed, U32Bytes(spi));
  Append(seed, ni);
  Append(seed, nr);
  Bytes out;
  Bytes k = Prf(h, skeyid_d, seed);
  while (true) {
    Append(out, k);
    if (out.size() >= len) break;
    k = Prf(h, skeyid_d, Concat({k, seed}));
  }
  out.resize(len);
  return out;
}

Bytes NatDetectionHash(HashAlg h, uint64_t cky_i, uint64_t cky_r, uint32_t ip_net,
                       uint16_t port) {
  Bytes data = Concat({U64Bytes(cky_i), U64Bytes(cky_r)});
  const uint8_t* ip = reinterpret_cast<const uint8_t*>(&ip_net);
  data.insert(data.end(), ip, ip + 4);
  PutU16(data, port);
  return Hash(h, data);
}

}  // namespace vpn::ike
