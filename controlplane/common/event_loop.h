// The control plane's single-threaded event loop: epoll for file descriptors,
// a TimerSet for timers, and idle polls for the shared-memory rings.
#pragma once

#include <functional>
#include <unordered_map>

#include "absl/status/status.h"
#include "timer_queue.h"

namespace vpn::cp {

class EventLoop : public TimerQueue {
 public:
  EventLoop();
  ~EventLoop() override;
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  absl::Time Now() const override { return absl::Now(); }
  TimerId Schedule(absl::Duration after, std::function<void()> cb) override {
    return timers_.Add(absl::Now() + after, std::move(cb));
  }
  void Cancel(TimerId id) override { timers_.Cancel(id); }

  // Calls cb when fd is readable (level-triggered).
  absl::Status WatchReadable(int fd, std::function<void()> cb);
  void Unwatch(int fd);
  // Called on every loop iteration; returns true if it did work, which keeps
  // the loop from sleeping. The loop sleeps at most `max_idle_sleep` when no
  // poller did work (the rings have no file descriptor to wait on).
  void AddPoller(std::function<bool()> poll) { pollers_.push_back(std::move(poll)); }
  void set_max_idle_sleep(absl::Duration d) { max_idle_sleep_ = d; }

  // Runs until Stop(); safe to call Stop from a callback or signal handler.
  void Run();
  void Stop() { stop_ = true; }

 private:
  int epfd_ = -1;
  volatile bool stop_ = false;
  absl::Duration max_idle_sleep_ = absl::Milliseconds(1);
  TimerSet timers_;
  std::unordered_map<int, std::function<void()>> fds_;
  std::vector<std::function<bool()>> pollers_;
};

}  // namespace vpn::cp
