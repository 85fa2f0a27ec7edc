// Vendor ID payloads we recognise and send (RFC 3947 4, draft NAT-T,
// RFC 3706 2.1, Microsoft's). Most are MD5 of a string; some carry a
// version suffix, so they match by prefix.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "bytes.h"

namespace vpn::ike {

enum class Vid : uint8_t {
  kRfc3947,
  kNatTDraft02,
  kNatTDraft02n,  // "draft-ietf-ipsec-nat-t-ike-02\n" (the stray newline is real)
  kNatTDraft03,
  kNatTDraft00,
  kDpd,
  kMsNt5,         // "MS NT5 ISAKMPOAKLEY" + 4-byte version
  kFragmentation, // "FRAGMENTATION" + optional 4-byte flags
  kMsNegDiscovery,
  kIkeCga,
  kMsMamieExists,
  kXauth,
  kCiscoUnity,
  kCount,
};

struct VidInfo {
  Vid vid;
  std::string_view name;
  std::string_view md5_of;  // source string, empty when not an MD5
  std::string_view hex;     // the payload (or its prefix)
  bool prefix;              // longer payloads match too
};

std::span<const VidInfo> KnownVids();
const VidInfo& InfoOf(Vid v);
Bytes VidBytes(Vid v);
// Known VID matching `data`, or kCount.
Vid ClassifyVid(ByteSpan data);

}  // namespace vpn::ike
