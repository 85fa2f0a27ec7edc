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

// Helpers shared by the exchanges.
Bytes CookieSpi(const IkeSa& sa);  // CKY-I | CKY-R (RFC 2408 3.14 ISAKMP SPI)
NatT NatTFromVids(const std::vector<const RawPayload*>& vids, bool* dpd, bool* ms, bool* frag);
PayloadType NatDType(NatT n);
PayloadType NatOaType(NatT n);
std::vector<const RawPayload*> All(const Message& m, PayloadType t);

}  // namespace vpn::ike
