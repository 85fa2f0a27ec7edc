// Reliable delivery of one control connection's messages (RFC 2661 section
// 5.8): Ns/Nr numbering, acknowledgement by piggybacking or ZLB, the peer's
// receive window (Receive Window Size AVP, default 4), an in-window queue for
// out-of-order arrivals, duplicate re-acknowledgement, and retransmission with
// exponential backoff up to a maximum interval and a maximum count, after
// which the connection is given up.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "control_message.h"
#include "counters.h"
#include "timer_queue.h"

namespace vpn::l2tp {

struct ChannelParams {
  absl::Duration initial_rto = absl::Seconds(1);
  absl::Duration max_rto = absl::Seconds(8);
  uint32_t max_retransmits = 5;
  uint16_t receive_window = 8;  // ours: how far ahead we queue
};

class ControlChannel {
 public:
  struct Hooks {
    // A complete control message (header included) to put on the wire.
    std::function<void(std::span<const uint8_t>)> transmit;
    // The next in-order message (never a ZLB).
    std::function<void(ControlMessage&)> deliver;
    // Retransmissions exhausted; the channel has stopped itself.
    std::function<void()> give_up;
  };

  ControlChannel(cp::TimerQueue& timers, const ChannelParams& params,
                 Counters& counters, Hooks hooks);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  // The tunnel id the peer assigned: goes into the headers we send.
  void set_peer_tunnel_id(uint16_t id) { peer_tunnel_id_ = id; }
  uint16_t peer_tunnel_id() const { return peer_tunnel_id_; }
  // From the peer's Receive Window Size AVP (0 is invalid and ignored).
  void set_peer_window(uint16_t w) {
    if (w != 0) peer_window_ = w;
  }
  uint16_t peer_window() const { return peer_window_; }

  // Queues a message (AVP area from AvpWriter) for reliable delivery with
  // `session_id` in the header; sent now if the peer's window allows.
  void Send(uint16_t session_id, std::vector<uint8_t> avps);
  // Handles a received message addressed to this connection: processes its
  // Nr, then delivers it and any queued successors in order, then sends a
  // ZLB if an acknowledgement is still owed.
  void Receive(ControlMessage msg);
  // Stops timers and drops everything queued; nothing is sent afterwards.
  void Stop();

  bool stopped() const { return stopped_; }
  size_t unacked() const { return sent_.size(); }
  size_t waiting() const { return waiting_.size(); }
  uint16_t next_ns() const { return next_ns_; }
  uint16_t expected_ns() const { return nr_; }
  uint64_t retransmits() const { return retransmits_; }

 private:
  struct Outgoing {
    uint16_t session_id = 0;
    uint16_t ns = 0;
    std::vector<uint8_t> avps;
  };
  void TrySend();
  void Transmit(const Outgoing& o);
  void SendZlb();
  void ArmTimer();
  void OnTimeout();

  cp::TimerQueue& timers_;
  ChannelParams params_;
  Counters& counters_;
  Hooks hooks_;

  uint16_t peer_tunnel_id_ = 0;
  uint16_t peer_window_ = 4;    // section 5.8 default without the AVP
  uint16_t next_ns_ = 0;        // Ns of the next new transmission
  uint16_t una_ = 0;            // Ns of sent_.front()
  uint16_t nr_ = 0;             // next Ns expected from the peer
  bool ack_owed_ = false;
  bool stopped_ = false;
  std::deque<Outgoing> sent_;     // transmitted, not acknowledged
  std::deque<Outgoing> waiting_;  // held back by the peer's window
  std::map<uint16_t, ControlMessage> out_of_order_;
  cp::TimerQueue::TimerId timer_ = 0;
  absl::Duration rto_;
  uint32_t retries_ = 0;
  uint64_t retransmits_ = 0;
};

}  // namespace vpn::l2tp
