#include "control_channel.h"

#include <algorithm>

namespace vpn::l2tp {

ControlChannel::ControlChannel(cp::TimerQueue& timers, const ChannelParams& params,
                               Counters& counters, Hooks hooks)
    : timers_(timers),
      params_(params),
      counters_(counters),
      hooks_(std::move(hooks)),
      rto_(params.initial_rto) {
  if (params_.receive_window == 0) params_.receive_window = 1;
}

ControlChannel::~ControlChannel() {
  if (timer_ != 0) timers_.Cancel(timer_);
}

void ControlChannel::Stop() {
  stopped_ = true;
  if (timer_ != 0) timers_.Cancel(timer_);
  timer_ = 0;
  sent_.clear();
  waiting_.clear();
  out_of_order_.clear();
}

void ControlChannel::Send(uint16_t session_id, std::vector<uint8_t> avps) {
  if (stopped_) return;
  waiting_.push_back(Outgoing{session_id, 0, std::move(avps)});
  TrySend();
}

void ControlChannel::TrySend() {
  while (!stopped_ && !waiting_.empty() && sent_.size() < peer_window_) {
    Outgoing o = std::move(waiting_.front());
    waiting_.pop_front();
    o.ns = next_ns_++;
    sent_.push_back(std::move(o));
    counters_.Inc(Counter::k_tx_control);
    Transmit(sent_.back());
    if (timer_ == 0) ArmTimer();
  }
}

void ControlChannel::Transmit(const Outgoing& o) {
  // Nr is filled at (re)transmission time so it is always current (5.8).
  std::vector<uint8_t> m =
      BuildControlMessage(peer_tunnel_id_, o.session_id, o.ns, nr_, o.avps);
  ack_owed_ = false;
  hooks_.transmit(m);
}

void ControlChannel::SendZlb() {
  // A ZLB carries the Ns of the next message we would send (5.8).
  std::vector<uint8_t> m =
      BuildControlMessage(peer_tunnel_id_, 0, next_ns_, nr_, {});
  ack_owed_ = false;
  counters_.Inc(Counter::k_tx_zlb);
  hooks_.transmit(m);
}

void ControlChannel::ArmTimer() {
  timer_ = timers_.Schedule(rto_, [this] {
    timer_ = 0;
    OnTimeout();
  });
}

void ControlChannel::OnTimeout() {
  if (stopped_ || sent_.empty()) return;
  if (retries_ >= params_.max_retransmits) {
    Stop();
    hooks_.give_up();  // may destroy the owner's state: touch nothing after
    return;
  }
  ++retries_;
  rto_ = std::min(rto_ * 2, params_.max_rto);
  for (const Outgoing& o : sent_) {
    ++retransmits_;
    counters_.Inc(Counter::k_retransmits);
    Transmit(o);
  }
  ArmTimer();
}

void ControlChannel::Receive(ControlMessage msg) {
  if (stopped_) return;
  const uint16_t nr = msg.header.nr;
  // Acknowledgement: Nr is the next Ns the peer expects, so it acknowledges
  // everything before it. An Nr older than what is already acknowledged is a
  // stale duplicate's, not an error.
  if (!SeqBefore(nr, una_)) {
    const uint16_t acked = uint16_t(nr - una_);
    if (acked > sent_.size()) {
      counters_.Inc(Counter::k_drop_bad_nr);
      return;
    }
    if (acked > 0) {
      for (uint16_t i = 0; i < acked; ++i) sent_.pop_front();
      una_ = nr;
      retries_ = 0;
      rto_ = params_.initial_rto;
      if (timer_ != 0) timers_.Cancel(timer_);
      timer_ = 0;
      if (!sent_.empty()) ArmTimer();
      TrySend();
    }
  }
  if (msg.zlb) {
    counters_.Inc(Counter::k_rx_zlb);
    if (ack_owed_ && !stopped_) SendZlb();
    return;
  }

  const uint16_t ns = msg.header.ns;
  if (ns == nr_) {
    ++nr_;
    ack_owed_ = true;
    hooks_.deliver(msg);
    // Drain the messages that were waiting for this one.
    while (!stopped_) {
      auto it = out_of_order_.find(nr_);
      if (it == out_of_order_.end()) break;
      ControlMessage next = std::move(it->second);
      out_of_order_.erase(it);
      ++nr_;
      ack_owed_ = true;
      hooks_.deliver(next);
    }
  } else if (SeqBefore(ns, nr_)) {
    // Already delivered: our acknowledgement was probably lost (5.8).
    counters_.Inc(Counter::k_drop_duplicate);
    ack_owed_ = true;
  } else if (uint16_t(ns - nr_) < params_.receive_window) {
    if (out_of_order_.emplace(ns, std::move(msg)).second)
      counters_.Inc(Counter::k_queued_out_of_order);
    else
      counters_.Inc(Counter::k_drop_duplicate);
  } else {
    counters_.Inc(Counter::k_drop_out_of_window);
  }
  if (ack_owed_ && !stopped_) SendZlb();
}

}  // namespace vpn::l2tp
