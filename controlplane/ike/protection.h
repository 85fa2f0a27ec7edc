// Payload encryption after the ISAKMP header (RFC 2408 3.1 E flag, RFC 2409
// Appendix B): CBC over the payload chain padded with zeros to the block
// size; the IV of the next message is the last ciphertext block.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "crypto.h"
#include "payloads.h"

namespace vpn::ike {

struct CipherState {
  CipherAlg alg = CipherAlg::kAesCbc;
  Bytes key;
};

struct Sealed {
  Bytes msg;
  Bytes next_iv;  // last ciphertext block
};
// `h.next` is taken from `chain_first`; E flag set; length filled.
absl::StatusOr<Sealed> Seal(Header h, PayloadType chain_first, ByteSpan chain,
                            const CipherState& c, ByteSpan iv);

struct Opened {
  Message msg;
  Bytes next_iv;
};
// Decrypts and parses. Errors: OutOfRange (not whole blocks), then chain
// parse errors (a wrong key usually shows up here).
absl::StatusOr<Opened> Open(ByteSpan datagram, const CipherState& c, ByteSpan iv);

// RFC 2409 5.5/5.7: HASH payload first, computed over the encoded rest of
// the chain. `hash_of_rest` receives the encoded payloads after HASH.
struct HashedChain {
  PayloadType first = PayloadType::kHash;
  Bytes chain;
};
HashedChain BuildHashedChain(const std::vector<RawPayload>& rest,
                             const std::function<Bytes(ByteSpan rest)>& hash_of_rest);
// The bytes a received HASH covers: everything after the HASH payload up to
// the end of the last payload (padding excluded).
ByteSpan AfterHash(const Message& m);

}  // namespace vpn::ike
