#include "exchanges.h"
#include "vendor_ids.h"

namespace vpn::ike {

Bytes CookieSpi(const IkeSa& sa) { return Concat({U64Bytes(sa.icookie), U64Bytes(sa.rcookie)}); }

// RFC 3947 4: the dialect is the best one both sent; RFC 3947 wins over
// the drafts, whose payload numbers and encapsulation modes differ.
NatT NatTFromVids(const std::vector<const RawPayload*>& vids, bool* dpd, bool* ms, bool* frag) {
  NatT n = NatT::kNone;
  for (const RawPayload* v : vids) {
    switch (ClassifyVid(v->body)) {
      case Vid::kRfc3947: n = NatT::kRfc3947; break;
      case Vid::kNatTDraft02:
      case Vid::kNatTDraft02n:
      case Vid::kNatTDraft03:
        if (n == NatT::kNone) n = NatT::kDraft;
        break;
      case Vid::kDpd: *dpd = true; break;
      case Vid::kMsNt5: *ms = true; break;
      case Vid::kFragmentation: *frag = true; break;
      default: break;
    }
  }
  return n;
}

PayloadType NatDType(NatT n) {
  return n == NatT::kDraft ? PayloadType::kNatDDraft : PayloadType::kNatD;
}

PayloadType NatOaType(NatT n) {
  return n == NatT::kDraft ? PayloadType::kNatOaDraft : PayloadType::kNatOa;
}

std::vector<const RawPayload*> All(const Message& m, PayloadType t) {
  std::vector<const RawPayload*> out;
  for (const auto& p : m.payloads)
    if (p.type == t) out.push_back(&p);
  return out;
}

}  // namespace vpn::ike
