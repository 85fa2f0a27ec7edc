#include "event_loop.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vpn::cp {

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {}

EventLoop::~EventLoop() {
  if (epfd_ >= 0) close(epfd_);
}

absl::Status EventLoop::WatchReadable(int fd, std::function<void()> cb) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }
  fds_[fd] = std::move(cb);
  return absl::OkStatus();
}

void EventLoop::Unwatch(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

void EventLoop::Run() {
  stop_ = false;
  epoll_event events[32];
  while (!stop_) {
    bool busy = false;
    for (auto& p : pollers_) busy |= p();
    timers_.RunDue(absl::Now());
    absl::Duration wait = busy ? absl::ZeroDuration() : max_idle_sleep_;
    if (pollers_.empty()) wait = absl::Milliseconds(100);
    absl::Time next = timers_.NextDeadline();
    if (next != absl::InfiniteFuture()) {
      wait = std::min(wait, std::max(absl::ZeroDuration(), next - absl::Now()));
    }
    int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
    int n = epoll_wait(epfd_, events, 32, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      auto it = fds_.find(events[i].data.fd);
      if (it != fds_.end()) {
        auto cb = it->second;  // the callback may Unwatch itself
        cb();
      }
    }
  }
}

}  // namespace vpn::cp
