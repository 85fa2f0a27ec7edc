#include <algorithm>

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

std::optional<IkeChoice> ChooseIkeProposal(const std::vector<IkeSuite>& ours,
                                           const SaPayload& offered,
                                           const std::vector<AuthMethod>& auth) {
  for (IkeSuite want : ours) {
    for (const auto& p : offered.proposals) {
      if (p.protocol != static_cast<uint8_t>(ProtocolId::kIsakmp)) continue;
      for (const auto& t : p.transforms) {
        auto o = TransformToIkeSuite(t);
        if (!o.ok() || std::find(auth.begin(), auth.end(), o->suite.auth) == auth.end()) continue;
        want.auth = o->suite.auth;
        if (o->suite == want) return IkeChoice{&p, &t, *o};
      }
    }
  }
  return std::nullopt;
}

std::string DescribeIkeOffer(const SaPayload& sa) {
  std::string s;
  for (const auto& p : sa.proposals)
    for (const auto& t : p.transforms) {
      auto o = TransformToIkeSuite(t);
      if (!s.empty()) s += ",";
      if (!o.ok()) s += "?";
      else if (o->suite.auth != AuthMethod::kPsk)
        s += o->suite.ToString() + "/auth" + std::to_string(static_cast<int>(o->suite.auth));
      else s += o->suite.ToString();
    }
  return s;
}

Bytes ReplySa(const IkeChoice& c) {
  SaPayload reply;
  Proposal rp;
  rp.number = c.proposal->number;
  rp.protocol = c.proposal->protocol;
  rp.spi = c.proposal->spi;
  rp.transforms = {*c.transform};  // RFC 2408 4.2: the chosen transform, unchanged
  reply.proposals = {rp};
  return EncodeSa(reply);
}

void AppendResponderVids(const Message& m1, NatT nat_t, bool frag, std::vector<RawPayload>& out) {
  if (nat_t == NatT::kRfc3947) {
    out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kRfc3947)));
  } else if (nat_t == NatT::kDraft) {
    // Echo the draft the peer sent (draft-02\n is what most clients expect).
    for (const RawPayload* v : All(m1, PayloadType::kVendorId)) {
      Vid id = ClassifyVid(v->body);
      if (id == Vid::kNatTDraft02 || id == Vid::kNatTDraft02n || id == Vid::kNatTDraft03) {
        out.push_back(Payload(PayloadType::kVendorId, v->body));
        break;
      }
    }
  }
  out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kDpd)));
  if (frag) out.push_back(Payload(PayloadType::kVendorId, VidBytes(Vid::kFragmentation)));
}

std::vector<RawPayload> NatDetection(IkeSa& sa, const Message& m, bool) {
  std::vector<RawPayload> out;
  if (sa.nat_t == NatT::kNone) return out;
  // RFC 3947 3.2: the first NAT-D hashes the destination as the sender saw
  // it, the others the sender's own addresses.
  std::vector<const RawPayload*> natd = All(m, PayloadType::kNatD);
  for (auto* p : All(m, PayloadType::kNatDDraft)) natd.push_back(p);
  Bytes mine = NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie, sa.local.ip, sa.local.port);
  Bytes theirs =
      NatDetectionHash(sa.suite.hash, sa.icookie, sa.rcookie, sa.remote.ip, sa.remote.port);
  if (natd.size() >= 2) {
    sa.local_behind_nat = natd[0]->body != mine;
    sa.peer_behind_nat = true;
    for (size_t i = 1; i < natd.size(); ++i)
      if (natd[i]->body == theirs) sa.peer_behind_nat = false;
  }
  out.push_back(Payload(NatDType(sa.nat_t), theirs));
  out.push_back(Payload(NatDType(sa.nat_t), mine));
  return out;
}

}  // namespace vpn::ike
