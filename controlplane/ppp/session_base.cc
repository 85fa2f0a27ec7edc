#include "session_base.h"

#include "vpn/log.h"

namespace vpn::ppp {

SessionTimers::~SessionTimers() {
  for (TimerId id : live_) real_.Cancel(id);
}

cp::TimerQueue::TimerId SessionTimers::Schedule(absl::Duration after,
                                                std::function<void()> cb) {
  auto id_holder = std::make_shared<TimerId>(0);
  const TimerId id =
      real_.Schedule(after, [this, id_holder, cb = std::move(cb)] {
        live_.erase(*id_holder);
        if (wrap_) {
          wrap_(cb);
        } else {
          cb();
        }
      });
  *id_holder = id;
  live_.insert(id);
  return id;
}

void SessionTimers::Cancel(TimerId id) {
  if (live_.erase(id)) real_.Cancel(id);
}

SessionBase::SessionBase(cp::PppLink& link, cp::TimerQueue& timers,
                         std::string peer)
    : timers_(timers), peer_(std::move(peer)), link_(link) {
  timers_.set_wrapper([this](const std::function<void()>& cb) { Guarded(cb); });
}

SessionBase::~SessionBase() = default;

void SessionBase::OnLinkDown(std::string_view reason) {
  Guarded([&] {
    link_down_ = true;
    Finish("link down: " + std::string(reason));
  });
}

void SessionBase::Disconnect(std::string_view reason) {
  Guarded([&] { RequestClose(std::string(reason)); });
}

void SessionBase::RequestClose(std::string reason) {
  if (finishing_ || close_requested_) return;
  close_requested_ = true;
  if (reason_.empty()) reason_ = std::move(reason);
  pending_close_ = true;
}

void SessionBase::Finish(std::string reason) {
  if (finishing_) return;
  finishing_ = true;
  if (reason_.empty()) reason_ = std::move(reason);
  ReleaseResources();
}

void SessionBase::SendFrame(const Bytes& frame) {
  if (link_down_ || final_done_) return;
  link_.SendPppFrame(frame);
}

void SessionBase::RunDeferred() {
  if (pending_close_) {
    pending_close_ = false;
    if (!finishing_) {
      ++depth_;
      lcp_fsm().Close(reason_);
      --depth_;
      // Close in Initial/Starting/Closed/Stopped sends nothing and may not
      // finish the layer: nothing left to wait for.
      if (!finishing_ && lcp_fsm().state() <= FsmState::kStopped)
        Finish(reason_);
    }
  }
  if (finishing_ && !final_done_) {
    final_done_ = true;
    const std::string reason = reason_;
    cp::PppLink* link = link_down_ ? nullptr : &link_;
    NotifyDown(reason);
    // Last: the owner may destroy this session from inside ClosePppLink.
    if (link) link->ClosePppLink(reason);
    return;
  }
}

}  // namespace vpn::ppp
