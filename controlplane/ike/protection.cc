#include "protection.h"

namespace vpn::ike {

absl::StatusOr<Sealed> Seal(Header h, PayloadType chain_first, ByteSpan chain,
                            const CipherState& c, ByteSpan iv) {
  size_t bs = BlockSize(c.alg);
  Bytes plain(chain.begin(), chain.end());
  // RFC 2408 3.1: pad to the cipher block size; zeros (3.1 "padding ... SHOULD
  // be zero"), the receiver stops at the last payload of the chain.
  plain.resize((plain.size() + bs - 1) / bs * bs, 0);
  if (plain.empty()) plain.resize(bs, 0);
  auto ct = CbcEncrypt(c.alg, c.key, iv, plain);
  if (!ct.ok()) return ct.status();
  h.next = chain_first;
  h.flags |= flags::kEncryption;
  h.length = static_cast<uint32_t>(kHeaderSize + ct->size());
  Sealed s;
  EncodeHeader(h, s.msg);
  Append(s.msg, *ct);
  s.next_iv.assign(ct->end() - bs, ct->end());
  return s;
}

absl::StatusOr<Opened> Open(ByteSpan datagram, const CipherState& c, ByteSpan iv) {
  auto h = ParseHeader(datagram);
  if (!h.ok()) return h.status();
  size_t bs = BlockSize(c.alg);
  ByteSpan ct = datagram.subspan(kHeaderSize);
  if (ct.empty() || ct.size() % bs) return absl::OutOfRangeError("ciphertext not whole blocks");
  auto plain = CbcDecrypt(c.alg, c.key, iv, ct);
  if (!plain.ok()) return plain.status();
  Opened o;
  o.msg.hdr = *h;
  o.msg.area = std::move(*plain);
  auto chain = ParseChain(h->next, o.msg.area);
  if (!chain.ok()) return chain.status();
  o.msg.payloads = std::move(*chain);
  o.next_iv.assign(ct.end() - bs, ct.end());
  return o;
}

HashedChain BuildHashedChain(const std::vector<RawPayload>& rest,
                             const std::function<Bytes(ByteSpan rest)>& hash_of_rest) {
  Bytes rest_bytes = EncodeChain(rest);
  Bytes hash = hash_of_rest(rest_bytes);
  HashedChain out;
  PutU8(out.chain, rest.empty() ? 0 : static_cast<uint8_t>(rest[0].type));
  PutU8(out.chain, 0);
  PutU16(out.chain, static_cast<uint16_t>(kGenericHeaderSize + hash.size()));
  Append(out.chain, hash);
  Append(out.chain, rest_bytes);
  return out;
}

ByteSpan AfterHash(const Message& m) {
  if (m.payloads.empty() || m.payloads[0].type != PayloadType::kHash) return {};
  size_t start = m.payloads[0].offset + m.payloads[0].size;
  const RawPayload& last = m.payloads.back();
  size_t end = last.offset + last.size;
  return ByteSpan(m.area).subspan(start, end - start);
}

}  // namespace vpn::ike
