// Packet building and parsing for the client simulator: what a real L2TP/IPsec
// client's kernel would do for it (the host kernel here has no XFRM, L2TP or
// PPP, so the simulator builds every header itself).
//
//   UDP 4500 payload (RFC 3948):  [non-ESP marker 0000 | IKE]  or  [ESP]
//   ESP payload (transport mode, next header 17):  [UDP sport->1701 | L2TP]
//   L2TP data payload:  [FF03?][PPP protocol][IPv4 packet: ICMP echo / UDP]
//
// Addresses in this API are host order unless a name says otherwise.
// Parsers never read past their span and report malformed input as a value
// (kind / nullopt), never by crashing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vpn::clientsim {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint16_t kPppProtoIpv4 = 0x0021;
inline constexpr uint16_t kL2tpPort = 1701;
inline constexpr uint16_t kIkePort = 500;
inline constexpr uint16_t kNatTPort = 4500;

std::string Ipv4ToString(uint32_t host_order);
// "a.b.c.d" -> host order; nullopt if not a dotted quad.
std::optional<uint32_t> ParseIpv4Address(const std::string& s);

// RFC 1071 one's-complement sum folded to 16 bits and complemented.
// `initial` is a partial (unfolded) sum, e.g. of a pseudo-header.
uint16_t InternetChecksum(ByteSpan data, uint32_t initial = 0);
// Unfolded sum of the IPv4 pseudo-header (RFC 768) for UDP checksums.
uint32_t PseudoHeaderSum(uint32_t src, uint32_t dst, uint8_t proto, uint16_t len);

// --- IPv4 (RFC 791), no options ----------------------------------------------

struct Ipv4Fields {
  uint32_t src = 0, dst = 0;
  uint8_t protocol = 0;
  uint8_t ttl = 64;
  uint16_t id = 0;
  bool dont_fragment = true;
};

// Header + payload, with the header checksum.
Bytes BuildIpv4(const Ipv4Fields& f, ByteSpan payload);

enum class Ipv4Error { kOk, kTruncated, kNotV4, kBadHeaderLength, kBadTotalLength,
                       kBadChecksum, kFragment };
struct Ipv4Packet {
  Ipv4Fields fields;
  ByteSpan payload;  // inside the parsed span, trailing bytes excluded
};
// Validates version, IHL, total length, header checksum; refuses fragments
// (the simulator never sends any, so one arriving is an error to count).
Ipv4Error ParseIpv4(ByteSpan pkt, Ipv4Packet* out);
const char* Ipv4ErrorName(Ipv4Error e);

// --- ICMP echo (RFC 792) -------------------------------------------------------

struct IcmpEcho {
  bool reply = false;  // type 0 reply, type 8 request
  uint16_t id = 0, seq = 0;
  ByteSpan data;
};
// A whole IPv4 packet carrying an echo request / reply.
Bytes BuildIcmpEcho(const Ipv4Fields& ip, bool reply, uint16_t id, uint16_t seq,
                    ByteSpan data);
// nullopt unless `p` is ICMP echo/echo-reply with a correct checksum.
std::optional<IcmpEcho> ParseIcmpEcho(const Ipv4Packet& p);

// --- UDP (RFC 768) -------------------------------------------------------------

struct UdpDatagram {
  uint16_t sport = 0, dport = 0;
  ByteSpan data;
};
// UDP header + payload with the checksum over the pseudo-header of
// (src, dst): the segment only, for ESP transport mode where the IP header
// is the outer one.
Bytes BuildUdpSegment(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                      ByteSpan data);
// Whole IPv4 packet carrying a UDP datagram (traffic inside PPP).
Bytes BuildUdpPacket(const Ipv4Fields& ip, uint16_t sport, uint16_t dport, ByteSpan data);
// Parses a UDP segment; checks the length and, unless it is zero (RFC 768:
// no checksum) or verify_checksum is false, the checksum. With NAT-T
// transport mode the receiver may not know the sender's address used in the
// checksum (RFC 3948 3.1.2), so callers decide.
std::optional<UdpDatagram> ParseUdpSegment(ByteSpan seg, uint32_t src, uint32_t dst,
                                           bool verify_checksum);

// --- PPP frames inside L2TP ------------------------------------------------------

// Frame for cp::PppLink::SendPppFrame: protocol 0x0021 + the IPv4 packet.
Bytes PppIpv4Frame(ByteSpan ipv4);
// Protocol and information of a PPP frame as it arrives in an L2TP data
// message: optional address/control FF03, 1- or 2-octet protocol (RFC 1661
// 6.5 PFC: an odd first octet is a 1-octet protocol).
struct PppFrame {
  uint16_t protocol = 0;
  ByteSpan info;
};
std::optional<PppFrame> ParsePppFrame(ByteSpan frame);

// --- L2TPv2 data messages (RFC 2661 3.1) --------------------------------------------

struct L2tpData {
  uint16_t tunnel_id = 0, session_id = 0;
  std::optional<uint16_t> ns, nr;
  ByteSpan payload;  // the PPP frame
};
// True if the message is a control message (T bit); false for data or runt.
bool L2tpIsControl(ByteSpan msg);
// Data message with the Length bit set (and sequence numbers if given).
Bytes BuildL2tpData(uint16_t tunnel_id, uint16_t session_id, ByteSpan ppp_frame,
                    std::optional<std::pair<uint16_t, uint16_t>> ns_nr = std::nullopt);
std::optional<L2tpData> ParseL2tpData(ByteSpan msg);

// --- UDP 4500 framing (RFC 3948 2.2, 2.3) -------------------------------------------

enum class NattKind { kIke, kEsp, kKeepalive, kInvalid };
struct NattPayload {
  NattKind kind = NattKind::kInvalid;
  ByteSpan body;  // IKE without the marker, or the ESP packet from the SPI
};
inline constexpr size_t kNonEspMarkerLen = 4;
// Classifies a datagram received from (or sent to) port 4500: a single 0xFF
// octet is a NAT-keepalive; four zero octets are the non-ESP marker before
// IKE; otherwise ESP, whose SPI must not be 1..255 (reserved, RFC 4303 2.1)
// and which must hold at least the ESP header.
NattPayload ClassifyNatT(ByteSpan udp_payload);
// IKE message sent on port 4500: marker + message.
Bytes FrameIkeForNatT(ByteSpan ike);

}  // namespace vpn::clientsim
