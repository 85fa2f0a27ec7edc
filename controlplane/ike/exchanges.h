// One class per exchange (RFC 2409 5 Main Mode, 5.5 Quick Mode, 5.7
// Informational), each for one role. They share an Engine for sending,
// timers and the SA table.
#pragma once

#include "engine.h"

namespace vpn::ike {

class MainModeResponder {
 public:
  explicit MainModeResponder(Engine& e) : e_(e) {}
  // Message 1 (no responder cookie yet): admission, proposal choice, reply 2.
  void OnFirstMessage(const Endpoint& local, const Endpoint& remote, ByteSpan raw,
                      const Header& h);
  // Messages 3 and 5 on an existing half-open SA.
  void OnMessage(IkeSa& sa, const Endpoint& local, const Endpoint& remote, ByteSpan raw,
                 const Header& h);

 private:
  void OnMessage3(IkeSa& sa, ByteSpan raw);
  void OnMessage5(IkeSa& sa, const Endpoint& local, const Endpoint& remote, ByteSpan raw);
  void OnMessage5Sig(IkeSa& sa, const Endpoint& local, const Endpoint& remote, ByteSpan raw);
  // Authenticated message 5: float, INITIAL-CONTACT, message 6, established.
  void Complete(IkeSa& sa, const Endpoint& local, const Endpoint& remote, const Message& m5,
                ByteSpan raw, Bytes next_iv);
  Engine& e_;
};

class MainModeInitiator {
 public:
  explicit MainModeInitiator(Engine& e) : e_(e) {}
  absl::Status Start(IkeSa& sa);
  void OnMessage(IkeSa& sa, ByteSpan raw, const Header& h);

 private:
  void OnMessage2(IkeSa& sa, ByteSpan raw);
  void OnMessage4(IkeSa& sa, ByteSpan raw);
  void OnMessage6(IkeSa& sa, ByteSpan raw);
  Engine& e_;
};

class QuickModeResponder {
 public:
  explicit QuickModeResponder(Engine& e) : e_(e) {}
  void OnMessage1(IkeSa& sa, ByteSpan raw, const Header& h);
  void OnMessage3(IkeSa& sa, QuickMode& qm, ByteSpan raw, const Header& h);

 private:
  void ArmRetransmit(IkeSa& sa, uint32_t mid, int attempt);
  Engine& e_;
};

class QuickModeInitiator {
 public:
  explicit QuickModeInitiator(Engine& e) : e_(e) {}
  absl::Status Start(IkeSa& sa, uint32_t replaces_inbound_spi);
  void OnMessage2(IkeSa& sa, QuickMode& qm, ByteSpan raw, const Header& h);
  // The peer refused (protected NO-PROPOSAL-CHOSEN etc.): drop the exchange.
  void Abandon(IkeSa& sa, uint32_t mid, const std::string& why);

 private:
  Engine& e_;
};

class Informational {
 public:
  explicit Informational(Engine& e) : e_(e) {}
  void OnMessage(IkeSa* sa, const Endpoint& local, const Endpoint& remote, ByteSpan raw,
                 const Header& h);
  absl::Status SendDpd(IkeSa& sa);
  absl::Status SendDeleteIke(IkeSa& sa);
  absl::Status SendDeleteChild(IkeSa& sa, uint32_t inbound_spi);

 private:
  void OnProtected(IkeSa& sa, ByteSpan raw, const Header& h);
  void OnNotify(IkeSa& sa, const NotifyPayload& n, uint32_t mid);
  void OnDelete(IkeSa& sa, const DeletePayload& d);
  Engine& e_;
};

class AggressiveModeResponder {
 public:
  explicit AggressiveModeResponder(Engine& e) : e_(e) {}
  void OnFirstMessage(const Endpoint& local, const Endpoint& remote, ByteSpan raw,
                      const Header& h);
  void OnMessage3(IkeSa& sa, const Endpoint& local, const Endpoint& remote, ByteSpan raw);

 private:
  Engine& e_;
};

class AggressiveModeInitiator {
 public:
  explicit AggressiveModeInitiator(Engine& e) : e_(e) {}
  absl::Status Start(IkeSa& sa);
  void OnMessage2(IkeSa& sa, ByteSpan raw);

 private:
  Engine& e_;
};

// Helpers shared by the exchanges.
Bytes CookieSpi(const IkeSa& sa);  // CKY-I | CKY-R (RFC 2408 3.14 ISAKMP SPI)
NatT NatTFromVids(const std::vector<const RawPayload*>& vids, bool* dpd, bool* ms, bool* frag);
PayloadType NatDType(NatT n);
PayloadType NatOaType(NatT n);
std::vector<const RawPayload*> All(const Message& m, PayloadType t);

// Phase 1 choice in responder preference order (RFC 2408 4.2).
struct IkeChoice {
  const Proposal* proposal = nullptr;
  const Transform* transform = nullptr;
  OfferedIke offered;
};
// Our suites name no authentication method: a transform matches when its
// cipher, hash and group do and its method is in `auth` (the methods this
// peer may use); among those, the initiator's order decides.
std::optional<IkeChoice> ChooseIkeProposal(const std::vector<IkeSuite>& ours,
                                           const SaPayload& offered,
                                           const std::vector<AuthMethod>& auth);
std::string DescribeIkeOffer(const SaPayload& sa);
// Our SA reply: the chosen proposal with the chosen transform, unchanged.
Bytes ReplySa(const IkeChoice& c);
// VIDs the responder sends back: the peer's NAT-T dialect and DPD.
// FRAGMENTATION too when `frag` (the peer announced it and we fragment).
void AppendResponderVids(const Message& m1, NatT nat_t, bool frag, std::vector<RawPayload>& out);
// NAT-D as seen from our side (RFC 3947 3.2): sets the two NAT flags from
// the peer's NAT-D list and returns ours (destination first, then us).
std::vector<RawPayload> NatDetection(IkeSa& sa, const Message& m, bool peer_is_initiator);

}  // namespace vpn::ike
