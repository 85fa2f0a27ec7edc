// L2TP header parsing edge cases (RFC 2661 section 3.1) and data framing.
#include <gtest/gtest.h>

#include <vector>

#include "data_message.h"
#include "wire.h"

namespace vpn::l2tp {
namespace {

using Bytes = std::vector<uint8_t>;

// A control header written out by hand from the section 3.1 diagram.
Bytes HandControl() {
  return {0xC8, 0x02,  // T L S, version 2
          0x00, 0x14,  // Length 20
          0x12, 0x34,  // tunnel
          0x56, 0x78,  // session
          0x00, 0x03,  // Ns
          0x00, 0x07,  // Nr
          1, 2, 3, 4, 5, 6, 7, 8};
}

TEST(HeaderTest, ParsesControlHeaderFromTheDiagram) {
  Bytes m = HandControl();
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_TRUE(h.control);
  EXPECT_TRUE(h.has_length);
  EXPECT_TRUE(h.has_sequence);
  EXPECT_FALSE(h.has_offset);
  EXPECT_EQ(h.length, 20);
  EXPECT_EQ(h.tunnel_id, 0x1234);
  EXPECT_EQ(h.session_id, 0x5678);
  EXPECT_EQ(h.ns, 3);
  EXPECT_EQ(h.nr, 7);
  EXPECT_EQ(h.payload_offset, 12u);
}

TEST(HeaderTest, TrailingBytesBeyondLengthAreNotPartOfTheMessage) {
  Bytes m = HandControl();
  m.push_back(0xEE);
  m.push_back(0xEE);
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_EQ(h.length, 20);
}

TEST(HeaderTest, EveryTruncationIsRejected) {
  Bytes m = HandControl();
  for (size_t n = 0; n < 12; ++n) {
    Header h;
    HeaderError e = ParseHeader(std::span(m.data(), n), &h);
    EXPECT_NE(e, HeaderError::kOk) << n;
  }
  // Length says 20 but only 16 octets are there.
  Header h;
  EXPECT_EQ(ParseHeader(std::span(m.data(), 16), &h), HeaderError::kBadLength);
}

TEST(HeaderTest, VersionOtherThanTwoIsDiscarded) {
  for (uint8_t ver : {0, 1, 3, 15}) {
    Bytes m = HandControl();
    m[1] = ver;
    Header h;
    EXPECT_EQ(ParseHeader(m, &h), HeaderError::kBadVersion) << int(ver);
  }
}

TEST(HeaderTest, ControlMessagesNeedLAndSAndForbidOAndP) {
  for (uint8_t first : {0x88, 0xC0, 0xCA, 0xC9, 0x80}) {  // no L, no S, +O, +P, bare T
    Bytes m = HandControl();
    m[0] = first;
    Header h;
    EXPECT_EQ(ParseHeader(m, &h), HeaderError::kBadControlFlags) << int(first);
  }
}

TEST(HeaderTest, LengthInsideTheHeaderIsRejected) {
  Bytes m = HandControl();
  m[3] = 11;
  Header h;
  EXPECT_EQ(ParseHeader(m, &h), HeaderError::kBadLength);
  m[3] = 12;  // exactly a header: a ZLB
  EXPECT_EQ(ParseHeader(m, &h), HeaderError::kOk);
}

TEST(HeaderTest, MinimalDataHeaderHasOnlyIds) {
  Bytes m = {0x00, 0x02, 0xAB, 0xCD, 0x00, 0x01, 0xFF, 0x03, 0xC0, 0x21};
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_FALSE(h.control);
  EXPECT_FALSE(h.has_length);
  EXPECT_EQ(h.length, m.size());
  EXPECT_EQ(h.tunnel_id, 0xABCD);
  EXPECT_EQ(h.session_id, 1);
  EXPECT_EQ(h.payload_offset, 6u);
}

TEST(HeaderTest, DataOffsetPadIsSkippedAndBounded) {
  // L, S, O set: length, ids, Ns/Nr, offset size 3, pad, then payload.
  Bytes m = {0x4A, 0x02, 0x00, 0x13, 0x00, 0x01, 0x00, 0x02, 0x00, 0x05,
             0x00, 0x00, 0x00, 0x03, 0xEE, 0xEE, 0xEE, 0xC0, 0x21};
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_EQ(h.ns, 5);
  EXPECT_EQ(h.offset_size, 3);
  EXPECT_EQ(h.payload_offset, 17u);
  m[13] = 6;  // pad reaches past the end
  EXPECT_EQ(ParseHeader(m, &h), HeaderError::kBadOffset);
  m[13] = 5;  // pad ends exactly at the end: empty payload is fine here
  EXPECT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_EQ(h.payload_offset, 19u);
}

TEST(HeaderTest, BuildControlMessageRoundTrips) {
  Bytes avps = {9, 9, 9};
  Bytes m = BuildControlMessage(0xBEEF, 0x0102, 65535, 0, avps);
  EXPECT_EQ(m.size(), 15u);
  EXPECT_EQ(m[0], 0xC8);
  EXPECT_EQ(m[1], 0x02);
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_EQ(h.length, 15);
  EXPECT_EQ(h.tunnel_id, 0xBEEF);
  EXPECT_EQ(h.session_id, 0x0102);
  EXPECT_EQ(h.ns, 65535);
  EXPECT_EQ(h.nr, 0);
}

TEST(SequenceTest, ComparesModulo65536) {
  EXPECT_TRUE(SeqBefore(1, 2));
  EXPECT_FALSE(SeqBefore(2, 1));
  EXPECT_FALSE(SeqBefore(5, 5));
  EXPECT_TRUE(SeqBefore(65535, 0));  // wraps
  EXPECT_TRUE(SeqBefore(65000, 100));
  EXPECT_FALSE(SeqBefore(100, 65000));
}

TEST(DataMessageTest, BuildsHeaderWithPeerIdsAndFf03) {
  Bytes frame = {0xC0, 0x21, 0x01, 0x01, 0x00, 0x04};
  Bytes m = BuildDataMessage(0x1111, 0x2222, std::nullopt, frame);
  Header h;
  ASSERT_EQ(ParseHeader(m, &h), HeaderError::kOk);
  EXPECT_FALSE(h.control);
  EXPECT_FALSE(h.has_sequence);
  EXPECT_EQ(h.tunnel_id, 0x1111);
  EXPECT_EQ(h.session_id, 0x2222);
  EXPECT_EQ(h.length, m.size());
  ASSERT_EQ(m.size(), h.payload_offset + 2 + frame.size());
  EXPECT_EQ(m[h.payload_offset], 0xFF);
  EXPECT_EQ(m[h.payload_offset + 1], 0x03);

  Bytes seq = BuildDataMessage(1, 2, uint16_t{77}, frame);
  ASSERT_EQ(ParseHeader(seq, &h), HeaderError::kOk);
  EXPECT_TRUE(h.has_sequence);
  EXPECT_EQ(h.ns, 77);
  EXPECT_EQ(h.nr, 0);
}

TEST(DataMessageTest, NormalizesAddressControlAndProtocolCompression) {
  Bytes out;
  ASSERT_TRUE(NormalizePppFrame(Bytes{0xFF, 0x03, 0xC0, 0x21, 0x09}, &out));
  EXPECT_EQ(out, (Bytes{0xC0, 0x21, 0x09}));
  ASSERT_TRUE(NormalizePppFrame(Bytes{0xC0, 0x21, 0x09}, &out));  // ACFC
  EXPECT_EQ(out, (Bytes{0xC0, 0x21, 0x09}));
  ASSERT_TRUE(NormalizePppFrame(Bytes{0xFF, 0x03, 0x21, 0x45}, &out));  // PFC
  EXPECT_EQ(out, (Bytes{0x00, 0x21, 0x45}));
  ASSERT_TRUE(NormalizePppFrame(Bytes{0x21}, &out));
  EXPECT_EQ(out, (Bytes{0x00, 0x21}));
  EXPECT_FALSE(NormalizePppFrame(Bytes{}, &out));
  EXPECT_FALSE(NormalizePppFrame(Bytes{0xFF, 0x03}, &out));
  EXPECT_FALSE(NormalizePppFrame(Bytes{0xC0}, &out));        // half a protocol
  EXPECT_FALSE(NormalizePppFrame(Bytes{0xC0, 0x20, 1}, &out));  // even low octet
}

TEST(MessageTypeTest, NamesAndKnownTypes) {
  EXPECT_EQ(MessageTypeName(1), "SCCRQ");
  EXPECT_EQ(MessageTypeName(16), "SLI");
  EXPECT_FALSE(IsKnownMessageType(0));
  EXPECT_FALSE(IsKnownMessageType(5));   // reserved
  EXPECT_FALSE(IsKnownMessageType(13));  // reserved
  EXPECT_FALSE(IsKnownMessageType(17));
  int known = 0;
  for (int t = 0; t < 100; ++t) known += IsKnownMessageType(t);
  EXPECT_EQ(known, 14);
}

}  // namespace
}  // namespace vpn::l2tp
