// A minimal read-only HTTP/1.x listener for Prometheus scrapes: GET /metrics
// answers the exposition text, anything else 404/405. It runs in the control
// plane's event loop: non-blocking sockets, at most kMaxClients open
// connections, a request must arrive within 2 s and fit in 8 KiB, and every
// connection is closed after one answer (Connection: close).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "event_loop.h"

namespace vpn::cp {

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;
  static constexpr int kMaxClients = 16;
  static constexpr size_t kMaxRequest = 8192;

  MetricsHttpServer(EventLoop& loop, Render render) : loop_(loop), render_(std::move(render)) {}
  ~MetricsHttpServer();
  // ip host order. Port 0 picks a free port (tests); port() tells which.
  absl::Status Listen(uint32_t ip, uint16_t port);
  uint16_t port() const { return port_; }
  uint64_t requests() const { return requests_; }

  // The answer to one raw request (status line, headers, body); exposed for
  // tests.
  std::string Respond(const std::string& request);

 private:
  struct Client {
    std::string buf;
    TimerQueue::TimerId timer = 0;
  };
  void OnAccept();
  void OnReadable(int fd);
  void Close(int fd);

  EventLoop& loop_;
  Render render_;
  int fd_ = -1;
  uint16_t port_ = 0;
  uint64_t requests_ = 0;
  std::map<int, Client> clients_;
};

}  // namespace vpn::cp
