// IKEv1 key derivation (RFC 2409 5, 5.5, Appendix B).
#pragma once

#include <optional>

#include "bytes.h"
#include "crypto.h"

namespace vpn::ike {

// RFC 2409 5: SKEYID for pre-shared keys = prf(pre-shared-key, Ni_b | Nr_b).
Bytes SkeyidPsk(HashAlg h, ByteSpan psk, ByteSpan ni, ByteSpan nr);
// RFC 2409 5: SKEYID for signatures = prf(Ni_b | Nr_b, g^xy).
Bytes SkeyidSig(HashAlg h, ByteSpan ni, ByteSpan nr, ByteSpan gxy);

struct Phase1Keys {
  Bytes skeyid;
  Bytes skeyid_d;  // prf(SKEYID, g^xy | CKY-I | CKY-R | 0)
  Bytes skeyid_a;  // prf(SKEYID, SKEYID_d | g^xy | CKY-I | CKY-R | 1)
  Bytes skeyid_e;  // prf(SKEYID, SKEYID_a | g^xy | CKY-I | CKY-R | 2)
  Bytes enc_key;   // SKEYID_e, expanded per Appendix B when too short
};
Phase1Keys DerivePhase1Keys(HashAlg h, Bytes skeyid, ByteSpan gxy, uint64_t cky_i,
                            uint64_t cky_r, size_t enc_key_len);

// RFC 2409 Appendix B: Ka = K1 | K2 | ..., K1 = prf(SKEYID_e, 0),
// Kn = prf(SKEYID_e, Kn-1); only used when SKEYID_e is shorter than needed.
Bytes ExpandEncKey(HashAlg h, ByteSpan skeyid_e, size_t len);

// RFC 2409 Appendix B: phase 1 IV = hash(g^xi | g^xr), first block.
Bytes Phase1Iv(HashAlg h, ByteSpan gxi, ByteSpan gxr, size_t block);
// Phase 2 / informational IV = hash(last phase-1 CBC block | M-ID).
Bytes Phase2Iv(HashAlg h, ByteSpan last_phase1_block, uint32_t message_id, size_t block);

// RFC 2409 5: HASH_I / HASH_R (the caller swaps arguments for HASH_R:
// prf(SKEYID, g^xr | g^xi | CKY-R | CKY-I | SAi_b | IDir_b)).
Bytes Phase1AuthHash(HashAlg h, ByteSpan skeyid, ByteSpan g_first, ByteSpan g_second,
                     uint64_t cky_first, uint64_t cky_second, ByteSpan sai_b, ByteSpan id_b);

// RFC 2409 5.5: KEYMAT = K1 | K2 | ..., K1 = prf(SKEYID_d, [g(qm)^xy |]
// protocol | SPI | Ni_b | Nr_b), Kn = prf(SKEYID_d, Kn-1 | [g(qm)^xy |]
// protocol | SPI | Ni_b | Nr_b). `spi` is the 4-byte SPI of the SA in the
// direction being keyed (the receiver's choice).
Bytes Keymat(HashAlg h, ByteSpan skeyid_d, std::optional<ByteSpan> gxy_qm, uint8_t protocol,
             uint32_t spi, ByteSpan ni, ByteSpan nr, size_t len);

// RFC 3947 3.2: NAT-D = HASH(CKY-I | CKY-R | IP | Port), IP and port in
// network order (ip given in network order, port in host order).
Bytes NatDetectionHash(HashAlg h, uint64_t cky_i, uint64_t cky_r, uint32_t ip_net,
                       uint16_t port);

}  // namespace vpn::ike
