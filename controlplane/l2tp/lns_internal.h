// LNS tunnel and session objects (private to lns*.cc). The tunnel runs the
// RFC 2661 section 7.2 LNS control connection states, the session the
// section 7.4.2 "LNS Incoming Call" states:
//
//   tunnel: (SCCRQ ok -> SCCRP) wait-ctl-conn --SCCCN ok--> established
//           any --StopCCN rx/tx--> closing (linger, re-ack) --> dead
//   session: (ICRQ ok -> ICRP) wait-connect --ICCN ok--> established
//            any --CDN rx/tx, tunnel down--> dead
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "avp.h"
#include "control_channel.h"
#include "lns.h"

namespace vpn::l2tp {

// How long a closed tunnel stays to acknowledge retransmissions (5.7).
absl::Duration LingerTime(const config::L2tp& c);

class LnsSession : public cp::PppLink {
 public:
  LnsSession(LnsTunnel& tunnel, uint16_t local_id, uint16_t peer_id,
             uint32_t call_serial);
  ~LnsSession() override;

  // cp::PppLink, for the PPP endpoint.
  void SendPppFrame(std::span<const uint8_t> frame) override;
  void ClosePppLink(std::string_view reason) override;

  // Messages for this session, in order, already validated.
  void OnMessage(const ControlMessage& m);
  // A PPP frame from the wire (already normalized to start at the protocol).
  void OnPppFrame(std::span<const uint8_t> frame);
  // Data-message sequencing (S bit): false if older than expected.
  bool AcceptDataNs(uint16_t ns);
  // Local teardown with CDN; Drop without (the tunnel is going away).
  void Close(uint16_t result, uint16_t error, std::string_view message);
  void Drop(std::string_view reason);

  uint16_t local_id() const { return local_id_; }
  uint16_t peer_id() const { return peer_id_; }
  LnsTunnel& tunnel() const { return tunnel_; }
  SessionState state() const { return state_; }
  cp::PppEndpoint* endpoint() const { return endpoint_.get(); }
  SessionView View() const;

 private:
  void OnIccn(const ControlMessage& m);
  void Bury(std::string reason);

  LnsTunnel& tunnel_;
  Lns& lns_;
  const uint16_t local_id_, peer_id_;
  const uint32_t call_serial_;
  SessionState state_ = SessionState::kWaitConnect;
  bool sequencing_ = false;
  uint16_t tx_ns_ = 0, rx_ns_ = 0;
  bool rx_ns_valid_ = false;
  uint32_t tx_connect_bps_ = 0;
  uint64_t wan_errors_ = 0;
  absl::Time created_, established_;
  uint64_t rx_packets_ = 0, rx_bytes_ = 0, tx_packets_ = 0, tx_bytes_ = 0;
  cp::TimerQueue::TimerId setup_timer_ = 0;
  std::unique_ptr<cp::PppEndpoint> endpoint_;
};

class LnsTunnel {
 public:
  LnsTunnel(Lns& lns, uint16_t local_id, const PeerBinding& b,
            uint16_t peer_id);
  ~LnsTunnel();

  // Whether a message arriving on `b` may belong to this tunnel.
  bool Accepts(const PeerBinding& b) const;
  // A parsed message addressed to this tunnel, binding already checked.
  void OnMessage(ControlMessage m);
  // StopCCN, sessions down, linger to acknowledge retransmissions (5.7).
  void Close(uint16_t result, uint16_t error, std::string_view message);
  // Gone without a word: SA deleted, peer silent, linger over.
  void Kill(std::string_view reason);
  // Data from the peer also restarts the HELLO idle timer (section 6.5).
  void NoteActivity();
  void Rebind(uint32_t old_sa, uint32_t new_sa);
  // The previous or pending SA of a rekey is gone: stop accepting it.
  void ForgetRekeySa(uint32_t sa);
  void AcceptPending(uint32_t sa);
  // Every SA this tunnel accepts (bound, previous, pending; kNoSa: none):
  // what Lns indexes it under.
  Lns::TunnelSas Sas() const { return {binding_.sa_index, previous_sa_, pending_sa_}; }
  // The ClientKey this tunnel counts under (0: not counted, i.e. closing).
  uint64_t counted_as() const { return counted_as_; }
  void set_counted_as(uint64_t k) { counted_as_ = k; }
  // Whether Lns::tunnels_by_sa_ holds it: from creation until it leaves
  // tunnels_ (BuryTunnel); SA changes are indexed only meanwhile.
  bool sa_indexed() const { return sa_indexed_; }
  void set_sa_indexed(bool b) { sa_indexed_ = b; }

  // For sessions.
  AvpWriter Writer(MessageType t) const;
  void Send(uint16_t peer_session_id, AvpWriter& w);
  void SendData(std::span<const uint8_t> msg);
  void BurySession(LnsSession* s, std::string reason);
  LnsSession* FindSession(uint16_t local_id) const;

  Lns& lns() { return lns_; }
  uint16_t local_id() const { return local_id_; }
  uint16_t peer_id() const { return peer_id_; }
  const PeerBinding& binding() const { return binding_; }
  // "tunnel 7 (198.18.0.10:1701)": our id alone is not unique (other peers
  // may have it), so logs always name the peer too.
  const std::string& tag() const { return tag_; }
  TunnelState state() const { return state_; }
  absl::Time established_at() const { return established_; }
  const std::string& peer_hostname() const { return peer_hostname_; }
  const std::map<uint16_t, std::unique_ptr<LnsSession>>& sessions() const {
    return sessions_;
  }
  TunnelView View() const;

 private:
  void Deliver(ControlMessage& m);
  void HandleBadMessage(const ControlMessage& m, const Verdict& v);
  void OnSccrq(const ControlMessage& m);
  void OnScccn(const ControlMessage& m);
  void OnStopCcn(const ControlMessage& m);
  void OnIcrq(const ControlMessage& m);
  void OnOcrq(const ControlMessage& m);
  void RefuseCall(uint16_t peer_session_id, uint16_t result, uint16_t error,
                  std::string_view why);
  void FsmError(const ControlMessage& m);
  void DropSessions(std::string_view reason);
  void EnterClosing();
  void ArmHello();
  void CancelTimers();
  // The only writer of binding_.sa_index, previous_sa_ and pending_sa_: it
  // keeps Lns's index by SA in step with them.
  void SetSas(uint32_t bound, uint32_t previous, uint32_t pending);

  Lns& lns_;
  const uint16_t local_id_;
  const uint16_t peer_id_;
  PeerBinding binding_;
  const std::string tag_;
  uint64_t counted_as_ = 0;
  uint32_t previous_sa_ = kNoSa;  // still accepted during a rekey
  uint32_t pending_sa_ = kNoSa;   // rekey between Quick Mode 2 and 3
  bool sa_indexed_ = false;       // in Lns::tunnels_by_sa_ (while in tunnels_)
  TunnelState state_ = TunnelState::kWaitCtlConn;
  ControlChannel channel_;
  std::string peer_hostname_, peer_vendor_;
  bool got_sccrq_ = false;
  std::vector<uint8_t> our_challenge_;  // sent in SCCRP when we have a secret
  bool authenticated_ = false;
  uint16_t last_result_ = 0, last_error_ = 0;
  absl::Time created_, established_, last_rx_;
  uint64_t rx_control_ = 0;
  cp::TimerQueue::TimerId hello_timer_ = 0, setup_timer_ = 0, linger_timer_ = 0;
  std::map<uint16_t, std::unique_ptr<LnsSession>> sessions_;
};

}  // namespace vpn::l2tp
