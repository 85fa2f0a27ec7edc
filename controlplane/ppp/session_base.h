// What the server and client sessions share: the single-threaded re-entrancy
// discipline and the way a session ends.
//
// Every way into a session (a frame, link loss, a timer, an authentication
// result, an administrative call) runs inside Guarded(). Protocol code only
// *requests* a close or marks the session finished; the consequences run when
// the outermost Guarded() unwinds, and the call that may destroy the session
// (PppLink::ClosePppLink) is the very last thing done. Timers of every
// sub-protocol go through SessionTimers, which both guards their callbacks
// and cancels whatever is still pending when the session is destroyed.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "fsm.h"
#include "ppp_link.h"
#include "timer_queue.h"

namespace vpn::ppp {

class SessionTimers : public cp::TimerQueue {
 public:
  using Wrapper = std::function<void(const std::function<void()>&)>;
  explicit SessionTimers(cp::TimerQueue& real) : real_(real) {}
  ~SessionTimers() override;
  void set_wrapper(Wrapper w) { wrap_ = std::move(w); }
  absl::Time Now() const override { return real_.Now(); }
  TimerId Schedule(absl::Duration after, std::function<void()> cb) override;
  void Cancel(TimerId id) override;
  size_t pending() const { return live_.size(); }

 private:
  cp::TimerQueue& real_;
  Wrapper wrap_;
  std::set<TimerId> live_;
};

class SessionBase : public cp::PppEndpoint {
 public:
  ~SessionBase() override;
  // The L2TP session is gone: release everything, send nothing more.
  void OnLinkDown(std::string_view reason) final;
  // Ends the session politely: LCP Terminate-Request, then ClosePppLink.
  void Disconnect(std::string_view reason);
  // True from the moment the session is over (resources released).
  bool finished() const { return finishing_; }
  // The first reason recorded for the end of the session.
  const std::string& end_reason() const { return reason_; }
  const std::string& peer() const { return peer_; }

 protected:
  SessionBase(cp::PppLink& link, cp::TimerQueue& timers, std::string peer);

  template <typename F>
  void Guarded(F&& f) {
    ++depth_;
    f();
    if (--depth_ == 0) RunDeferred();
  }
  // LCP Close with `reason` once the current entry unwinds.
  void RequestClose(std::string reason);
  // The session is over now (dead peer, LCP finished, link down).
  void Finish(std::string reason);
  void SendFrame(const Bytes& frame);

  virtual Fsm& lcp_fsm() = 0;
  // At Finish: stop sub-protocols, release addresses and slots.
  virtual void ReleaseResources() = 0;
  // After Finish, once: tell the owner (must not destroy the session).
  virtual void NotifyDown(const std::string& reason) = 0;

  SessionTimers timers_;
  const std::string peer_;
  bool link_down_ = false;

 private:
  void RunDeferred();
  cp::PppLink& link_;
  int depth_ = 0;
  bool close_requested_ = false;
  bool pending_close_ = false;
  bool finishing_ = false;
  bool final_done_ = false;
  std::string reason_;
};

}  // namespace vpn::ppp
