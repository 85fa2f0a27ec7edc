#include "vendor_ids.h"

namespace vpn::ike {
namespace {

constexpr VidInfo kVids[] = {
    {Vid::kRfc3947, "RFC 3947", "RFC 3947", "4a131c81070358455c5728f20e95452f", false},
    {Vid::kNatTDraft02, "draft-ietf-ipsec-nat-t-ike-02", "draft-ietf-ipsec-nat-t-ike-02",
     "cd60464335df21f87cfdb2fc68b6a448", false},
    {Vid::kNatTDraft02n, "draft-ietf-ipsec-nat-t-ike-02\\n", "draft-ietf-ipsec-nat-t-ike-02\n",
     "90cb80913ebb696e086381b5ec427b1f", false},
    {Vid::kNatTDraft03, "draft-ietf-ipsec-nat-t-ike-03", "draft-ietf-ipsec-nat-t-ike-03",
     "7d9419a65310ca6f2c179d9215529d56", false},
    {Vid::kNatTDraft00, "draft-ietf-ipsec-nat-t-ike-00", "draft-ietf-ipsec-nat-t-ike-00",
     "4485152d18b6bbcd0be8a8469579ddcc", false},
    // RFC 3706 2.1: 14 fixed bytes, then major 1 minor 0.
    {Vid::kDpd, "DPD", "", "afcad71368a1f1c96b8696fc77570100", false},
    {Vid::kMsNt5, "MS NT5 ISAKMPOAKLEY", "MS NT5 ISAKMPOAKLEY",
     "1e2b516905991c7d7c96fcbfb587e461", true},
    {Vid::kFragmentation, "FRAGMENTATION", "FRAGMENTATION", "4048b7d56ebce88525e7de7f00d6c2d3",
     true},
    {Vid::kMsNegDiscovery, "MS-Negotiation Discovery Capable",
     "MS-Negotiation Discovery Capable", "fb1de3cdf341b7ea16b7e5be0855f120", false},
    {Vid::kIkeCga, "IKE CGA version 1", "IKE CGA version 1", "e3a5966a76379fe707228231e5ce8652",
     false},
    {Vid::kMsMamieExists, "MS-MamieExists", "MS-MamieExists", "214ca4faffa7f32d6748e5303395ae83",
     false},
    {Vid::kXauth, "XAUTH", "", "09002689dfd6b712", false},
    {Vid::kCiscoUnity, "Cisco Unity", "", "12f5f28c457168a9702d9fe274cc0100", false},
};

}  // namespace

std::span<const VidInfo> KnownVids() { return kVids; }

const VidInfo& InfoOf(Vid v) { return kVids[static_cast<int>(v)]; }

Bytes VidBytes(Vid v) { return FromHex(InfoOf(v).hex); }

Vid ClassifyVid(ByteSpan data) {
  for (const auto& info : kVids) {
    Bytes b = FromHex(info.hex);
    if (data.size() < b.size()) continue;
    if (!info.prefix && data.size() != b.size()) continue;
    if (std::equal(b.begin(), b.end(), data.begin())) return info.vid;
  }
  return Vid::kCount;
}

}  // namespace vpn::ike
