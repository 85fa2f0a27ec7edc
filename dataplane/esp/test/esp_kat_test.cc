// Known-answer tests: published vectors through the engine's own code paths.
#include <gtest/gtest.h>
#include <intel-ipsec-mb.h>

#include <memory>

#include "esp.h"
#include "esp_oracle.h"
#include "hmac_pads.h"

namespace vpn::esp::test {
namespace {

// --- HMAC: our ipad/opad precomputation + an intel-ipsec-mb hash job ---------

struct HmacVector {
  const char* source;
  shm::Integ integ;
  Bytes key;
  Bytes data;
  Bytes mac;  // full or truncated; compared over its length
};

Bytes Repeat(uint8_t b, size_t n) { return Bytes(n, b); }
Bytes Str(const char* s) { return Bytes(s, s + std::strlen(s)); }
Bytes Seq(uint8_t from, uint8_t to) {
  Bytes b;
  for (int v = from; v <= to; ++v) b.push_back(static_cast<uint8_t>(v));
  return b;
}

std::vector<HmacVector> HmacVectors() {
  using shm::Integ;
  const Bytes key6 = Repeat(0xaa, 131);  // RFC 4231 4.7 / 4.8
  const char* data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  return {
      // RFC 2404 section 5 (the RFC 2202 cases, HMAC-SHA-1-96 truncation).
      {"RFC 2404 case 1", Integ::kHmacSha1_96, Repeat(0x0b, 20),
       Str("Hi There"), Hex("b617318655057264e28bc0b6")},
      {"RFC 2404 case 2", Integ::kHmacSha1_96, Str("Jefe"),
       Str("what do ya want for nothing?"), Hex("effcdf6ae5eb2fa2d27416d5")},
      {"RFC 2404 case 3", Integ::kHmacSha1_96, Repeat(0xaa, 20),
       Repeat(0xdd, 50), Hex("125d7342b9ac11cd91a39af4")},
      {"RFC 2404 case 4", Integ::kHmacSha1_96, Seq(0x01, 0x19),
       Repeat(0xcd, 50), Hex("4c9007f4026250c6bc8414f9")},
      {"RFC 2404 case 6", Integ::kHmacSha1_96, Repeat(0xaa, 80), Str(data6),
       Hex("aa4ae5e15272d00e95705637")},
      {"RFC 2404 case 7", Integ::kHmacSha1_96, Repeat(0xaa, 80),
       Str("Test Using Larger Than Block-Size Key and Larger Than One "
           "Block-Size Data"),
       Hex("e8e99d0f45237d786d6bbaa7")},
      // RFC 4231 section 4 (HMAC-SHA-256/384/512), full outputs.
      {"RFC 4231 4.2 SHA-256", Integ::kHmacSha256_128, Repeat(0x0b, 20),
       Str("Hi There"),
       Hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")},
      {"RFC 4231 4.2 SHA-384", Integ::kHmacSha384_192, Repeat(0x0b, 20),
       Str("Hi There"),
       Hex("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
           "faea9ea9076ede7f4af152e8b2fa9cb6")},
      {"RFC 4231 4.2 SHA-512", Integ::kHmacSha512_256, Repeat(0x0b, 20),
       Str("Hi There"),
       Hex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
           "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")},
      {"RFC 4231 4.4 SHA-256", Integ::kHmacSha256_128, Repeat(0xaa, 20),
       Repeat(0xdd, 50),
       Hex("773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")},
      {"RFC 4231 4.4 SHA-384", Integ::kHmacSha384_192, Repeat(0xaa, 20),
       Repeat(0xdd, 50),
       Hex("88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
           "2a5ab39dc13814b94e3ab6e101a34f27")},
      {"RFC 4231 4.4 SHA-512", Integ::kHmacSha512_256, Repeat(0xaa, 20),
       Repeat(0xdd, 50),
       Hex("fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
           "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb")},
      {"RFC 4231 4.5 SHA-256", Integ::kHmacSha256_128, Seq(0x01, 0x19),
       Repeat(0xcd, 50),
       Hex("82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")},
      {"RFC 4231 4.5 SHA-384", Integ::kHmacSha384_192, Seq(0x01, 0x19),
       Repeat(0xcd, 50),
       Hex("3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
           "6801dd23c4a7d679ccf8a386c674cffb")},
      {"RFC 4231 4.5 SHA-512", Integ::kHmacSha512_256, Seq(0x01, 0x19),
       Repeat(0xcd, 50),
       Hex("b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
           "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd")},
      {"RFC 4231 4.7 SHA-256", Integ::kHmacSha256_128, key6, Str(data6),
       Hex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")},
      {"RFC 4231 4.7 SHA-384", Integ::kHmacSha384_192, key6, Str(data6),
       Hex("4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
           "0c2ef6ab4030fe8296248df163f44952")},
      {"RFC 4231 4.7 SHA-512", Integ::kHmacSha512_256, key6, Str(data6),
       Hex("80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
           "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598")},
      {"RFC 4231 4.8 SHA-256", Integ::kHmacSha256_128, key6,
       Str("This is a test using a larger than block-size key and a larger "
           "than block-size data. The key needs to be hashed before being "
           "used by the HMAC algorithm."),
       Hex("9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")},
  };
}

struct ImbMgrDeleter {
  void operator()(IMB_MGR* m) const { free_mb_mgr(m); }
};

TEST(EspKat, HmacPadsMatchRfc2404AndRfc4231) {
  std::unique_ptr<IMB_MGR, ImbMgrDeleter> mgr(alloc_mb_mgr(0));
  ASSERT_NE(mgr, nullptr);
  IMB_ARCH arch;
  init_mb_mgr_auto(mgr.get(), &arch);
  for (const HmacVector& v : HmacVectors()) {
    SCOPED_TRACE(v.source);
    const detail::IntegInfo* info = detail::FindInteg(v.integ);
    ASSERT_NE(info, nullptr);
    alignas(64) uint8_t ipad[64], opad[64];
    ASSERT_TRUE(detail::HmacPads(mgr.get(), v.integ, v.key.data(),
                                 v.key.size(), ipad, opad));
    // Ask intel-ipsec-mb for the full digest (a length it accepts for every
    // HMAC) and compare the vector's length.
    const uint32_t full = info->imb_hash == IMB_AUTH_HMAC_SHA_1 ? 20
                          : info->imb_hash == IMB_AUTH_HMAC_SHA_256 ? 32
                          : info->imb_hash == IMB_AUTH_HMAC_SHA_384 ? 48
                                                                    : 64;
    uint8_t tag[64] = {};
    IMB_JOB* j = IMB_GET_NEXT_JOB(mgr.get());
    j->cipher_mode = IMB_CIPHER_NULL;
    j->cipher_direction = IMB_DIR_ENCRYPT;
    j->chain_order = IMB_ORDER_HASH_CIPHER;
    j->hash_alg = static_cast<IMB_HASH_ALG>(info->imb_hash);
    j->src = v.data.data();
    uint8_t unused[16];
    j->dst = unused;
    j->msg_len_to_cipher_in_bytes = 0;
    j->cipher_start_src_offset_in_bytes = 0;
    j->hash_start_src_offset_in_bytes = 0;
    j->msg_len_to_hash_in_bytes = v.data.size();
    j->auth_tag_output = tag;
    j->auth_tag_output_len_in_bytes = full;
    j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
    j->u.HMAC._hashed_auth_key_xor_opad = opad;
    IMB_JOB* done = IMB_SUBMIT_JOB(mgr.get());
    if (done == nullptr) done = IMB_FLUSH_JOB(mgr.get());
    ASSERT_NE(done, nullptr);
    ASSERT_EQ(done->status, IMB_STATUS_COMPLETED);
    EXPECT_EQ(Bytes(tag, tag + v.mac.size()), v.mac);
  }
}

// --- Engine inbound path on published ciphertexts -----------------------------

class EngineKat : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(engine_.Init()); }

  // An inbound SA with the given cipher key (HMAC-SHA1-96 with a random key
  // for CBC: RFC 3602's vectors are cipher only, so the test computes the ICV
  // with OpenSSL and the engine must accept it and decrypt to the RFC text).
  void Install(shm::Cipher cipher, const Bytes& key, uint32_t spi,
               const uint8_t* salt = nullptr) {
    const bool gcm = cipher == shm::Cipher::kAesGcm16;
    FillRecord(&rec_, shm::SaDir::kInbound, cipher,
               static_cast<uint8_t>(key.size()),
               gcm ? shm::Integ::kNone : shm::Integ::kHmacSha1_96, spi);
    std::memcpy(rec_.cipher_key, key.data(), key.size());
    if (salt != nullptr) std::memcpy(rec_.salt, salt, 4);
    ASSERT_EQ(InitSaContext(rec_, &sa_->ctx), InitResult::kOk);
  }

  InboundJob Decrypt(Bytes& pkt) {
    InboundJob job{};
    job.sa = &sa_->ctx;
    job.esp = pkt.data();
    job.len = static_cast<uint32_t>(pkt.size());
    engine_.DecryptBurst(&job, 1);
    return job;
  }

  // SPI | seq | IV | ciphertext | HMAC-SHA1-96 by OpenSSL.
  Bytes CbcPacket(uint32_t spi, uint32_t seq, const Bytes& iv,
                  const Bytes& ct) {
    Bytes pkt;
    PutBe32(&pkt, spi);
    PutBe32(&pkt, seq);
    pkt.insert(pkt.end(), iv.begin(), iv.end());
    pkt.insert(pkt.end(), ct.begin(), ct.end());
    uint8_t mac[20];
    unsigned int mac_len;
    HMAC(EVP_sha1(), rec_.integ_key, 20, pkt.data(), pkt.size(), mac,
         &mac_len);
    pkt.insert(pkt.end(), mac, mac + 12);
    return pkt;
  }

  Engine engine_;
  shm::SaRecord rec_{};
  std::unique_ptr<AlignedSa> sa_ = std::make_unique<AlignedSa>();
};

// RFC 3602 section 4, cases 1, 2 and 4: plain AES-128-CBC. The plaintext is
// not an ESP trailer, so the verdict may be esp_bad_padding, but the bytes
// decrypted in place must be the RFC's plaintext.
TEST_F(EngineKat, Rfc3602CbcCases) {
  struct Case {
    const char* name;
    Bytes key, iv, plain, cipher;
  };
  const Case cases[] = {
      {"case 1", Hex("06a9214036b8a15b512e03d534120006"),
       Hex("3dafba429d9eb430b422da802c9fac41"), Str("Single block msg"),
       Hex("e353779c1079aeb82708942dbe77181a")},
      {"case 2", Hex("c286696d887c9aa0611bbb3e2025a45a"),
       Hex("562e17996d093d28ddb3ba695a2e6f58"),
       Hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
       Hex("d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1")},
      {"case 4", Hex("56e47a38c5598974bc46903dba290349"),
       Hex("8ce82eefbea0da3c44699ed7db51b7d9"),
       Hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
           "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"),
       Hex("c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e"
           "35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Install(shm::Cipher::kAesCbc, c.key, 0x1234);
    Bytes pkt = CbcPacket(0x1234, 1, c.iv, c.cipher);
    InboundJob job = Decrypt(pkt);
    EXPECT_TRUE(job.verdict == kOk || job.verdict == Reason::k_esp_bad_padding)
        << InfoOf(job.verdict).name;
    EXPECT_EQ(Bytes(pkt.begin() + 24, pkt.begin() + 24 + c.plain.size()),
              c.plain);
  }
}

// RFC 3602 section 4, case 5 (transport-mode ping) and case 7 (tunnel mode):
// complete ESP payloads with RFC 4303 padding; the engine must accept them
// and return the inner data and next header.
TEST_F(EngineKat, Rfc3602EspPacketCases) {
  {
    SCOPED_TRACE("case 5");
    Install(shm::Cipher::kAesCbc, Hex("90d382b410eeba7ad938c46cec1a82bf"),
            0x4321);
    Bytes pkt = CbcPacket(
        0x4321, 1, Hex("e96e8c08ab465763fd098d45dd3ff893"),
        Hex("f663c25d325c18c6a9453e194e120849a4870b66cc6b9965330013b4898dc856"
            "a4699e523a55db080b59ec3a8e4b7e52775b07d1db34ed9c538ab50c551b874a"
            "a269add047ad2d5913ac19b7cfbad4a6"));
    InboundJob job = Decrypt(pkt);
    ASSERT_EQ(job.verdict, kOk) << InfoOf(job.verdict).name;
    EXPECT_EQ(job.seq, 1u);
    EXPECT_EQ(job.next_header, 1);  // ICMP
    EXPECT_EQ(Bytes(job.payload, job.payload + job.payload_len),
              Hex("08000ebda70a00008e9c083db95b070008090a0b0c0d0e0f1011121314151617"
                  "18191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637"));
  }
  {
    SCOPED_TRACE("case 7");
    Install(shm::Cipher::kAesCbc, Hex("0123456789abcdef0123456789abcdef"),
            0x8765);
    Bytes pkt = CbcPacket(
        0x8765, 2, Hex("f4e765244f6407adf13dc1380f673f37"),
        Hex("773b5241a4c449225e4f3ce5ed611b0c237ca96cf74a93013c1b0ea1a0cf70f8"
            "e4ecaec78ac53aad7a0f022b859243c647752e94a859352b8a4d4d2decd136e5"
            "c177f132ad3fbfb2201ac9904c74ee0a109e0ca1e4dfe9d5a100b842f1c22f0d"));
    InboundJob job = Decrypt(pkt);
    ASSERT_EQ(job.verdict, kOk) << InfoOf(job.verdict).name;
    EXPECT_EQ(job.seq, 2u);
    EXPECT_EQ(job.next_header, 4);  // IPv4 in IPv4 (tunnel mode)
    EXPECT_EQ(Bytes(job.payload, job.payload + job.payload_len),
              Hex("4500005409040000 4001f988c0a87b03 c0a87bc808009f76 a90a0100b49c083d"
                  "02a2040008090a0b 0c0d0e0f10111213 1415161718191a1b 1c1d1e1f20212223"
                  "2425262728292a2b 2c2d2e2f30313233 34353637"));
  }
}

// draft-mcgrew-gcm-test-01 section 4 (AES-GCM in ESP, RFC 4106): the cases
// with a 32-bit sequence number (8-byte AAD) and a 128- or 256-bit key.
// Salt = the first 4 bytes of the nonce printed in the draft.
TEST_F(EngineKat, GcmEspDraftMcgrewCases) {
  struct Case {
    const char* name;
    Bytes key;
    Bytes salt;
    uint32_t spi, seq;
    Bytes packet;  // SPI through ICV
    Bytes plaintext;  // the draft's plaintext: payload, padding, trailer
  };
  const Case cases[] = {
      {"AES-128, SPI 0000a5f8, seq 0000000a", Hex("feffe9928665731c6d6a8f9467308308"),
       Hex("cafebabe"), 0x0000a5f8, 0x0000000a,
       Hex("0000a5f80000000afacedbaddecaf888"
           "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
           "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
           "83b70d3aa8bc6ee4c309e9d85a41ad4a"),
       Hex("4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
           "0001000000000000037369700963796265726369747902646b00000100010001")},
      {"AES-256, SPI 4a2cbfe3, seq 00000002",
       Hex("abbccddef00112233445566778899aababbccddef00112233445566778899aab"),
       Hex("11223344"), 0x4a2cbfe3, 0x00000002,
       Hex("4a2cbfe3000000020102030405060708"
           "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
           "748a637985771d347f0545659f14e99def842d8eb335f4eecfdbf831824b4c49"
           "15956c96"),
       Hex("4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
           "7002400020bf0000020405b40101040201020201")},
      {"AES-128 zero key, SPI 0, seq 1", Hex("00000000000000000000000000000000"),
       Hex("00000000"), 0x00000000, 0x00000001,
       Hex("00000000000000010000000000000000"
           "4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284"
           "456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3"
           "f821d496eeb096e98ad2b69e4799c71d"),
       Hex("4500003c99c500008001cb7a40679318010101010800075c0200440061626364"
           "65666768696a6b6c6d6e6f70717273747576776162636465666768690102" "0201")},
      {"AES-128, SPI 335467ae, seq ffffffff, trailer only",
       Hex("7d773d00c144c525ac619d18c84a3f47"), Hex("d9664267"), 0x335467ae,
       0xffffffff,
       Hex("335467aeffffffff43457e9182443bc6437f866bcb3f699fe9b0822bac961c45"
           "04bef270"),
       Hex("01020201")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Install(shm::Cipher::kAesGcm16, c.key, c.spi, c.salt.data());
    Bytes pkt = c.packet;
    InboundJob job = Decrypt(pkt);
    ASSERT_EQ(job.verdict, kOk) << InfoOf(job.verdict).name;
    EXPECT_EQ(job.seq, c.seq);
    const size_t pad_len = c.plaintext[c.plaintext.size() - 2];
    EXPECT_EQ(job.next_header, c.plaintext.back());
    EXPECT_EQ(Bytes(job.payload, job.payload + job.payload_len),
              Bytes(c.plaintext.begin(), c.plaintext.end() - 2 - pad_len));
    // The whole decrypted region, padding included, is the draft's text.
    EXPECT_EQ(Bytes(pkt.begin() + 16, pkt.end() - 16), c.plaintext);

    // One flipped ICV bit: refused, and the window did not move.
    Bytes bad = c.packet;
    bad.back() ^= 0x01;
    Install(shm::Cipher::kAesGcm16, c.key, c.spi, c.salt.data());
    EXPECT_EQ(Decrypt(bad).verdict, Reason::k_esp_bad_icv);
    pkt = c.packet;
    EXPECT_EQ(Decrypt(pkt).verdict, kOk);
  }
}

}  // namespace
}  // namespace vpn::esp::test
