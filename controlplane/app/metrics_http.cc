#include "metrics_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "vpn/config.h"
#include "vpn/log.h"

namespace vpn::cp {

MetricsHttpServer::~MetricsHttpServer() {
  std::vector<int> fds;
  for (auto& [fd, c] : clients_) fds.push_back(fd);
  for (int fd : fds) Close(fd);
  if (fd_ >= 0) {
    loop_.Unwatch(fd_);
    close(fd_);
  }
}

absl::Status MetricsHttpServer::Listen(uint32_t ip, uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("metrics socket: ", strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(ip);
  a.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("metrics_listen ", config::FormatIpv4(ip), ":",
                                               port, ": ", strerror(e)));
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  fd_ = fd;
  return loop_.WatchReadable(fd_, [this] { OnAccept(); });
}

void MetricsHttpServer::OnAccept() {
  for (int n = 0; n < kMaxClients; ++n) {
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return;
    if (int(clients_.size()) >= kMaxClients) {
      // Busy: refuse rather than queue without bound.
      static const char kBusy[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!write(c, kBusy, sizeof kBusy - 1);
      close(c);
      continue;
    }
    Client& cl = clients_[c];
    cl.timer = loop_.Schedule(absl::Seconds(2), [this, c] {
      clients_[c].timer = 0;
      Close(c);
    });
    if (!loop_.WatchReadable(c, [this, c] { OnReadable(c); }).ok()) Close(c);
  }
}

void MetricsHttpServer::Close(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  if (it->second.timer) loop_.Cancel(it->second.timer);
  clients_.erase(it);
  loop_.Unwatch(fd);
  close(fd);
}

void MetricsHttpServer::OnReadable(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  Client& cl = it->second;
  char buf[2048];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    Close(fd);
    return;
  }
  if (n > 0) cl.buf.append(buf, size_t(n));
  const bool complete = cl.buf.find("\r\n\r\n") != std::string::npos ||
                        cl.buf.find("\n\n") != std::string::npos;
  if (!complete && cl.buf.size() < kMaxRequest) return;
  std::string reply = complete ? Respond(cl.buf)
                               : "HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                 "Content-Length: 0\r\nConnection: close\r\n\r\n";
  // Answers are at most a few hundred KiB: write with a short bound in time
  // (the socket is non-blocking; wait for room at most 1 s in total).
  size_t off = 0;
  for (int waited = 0; off < reply.size() && waited < 20;) {
    ssize_t w = write(fd, reply.data() + off, reply.size() - off);
    if (w > 0) {
      off += size_t(w);
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 50);
      ++waited;
    } else {
      break;
    }
  }
  Close(fd);
}

std::string MetricsHttpServer::Respond(const std::string& request) {
  ++requests_;
  const std::string first = request.substr(0, request.find_first_of("\r\n"));
  std::vector<std::string> parts = absl::StrSplit(first, ' ', absl::SkipEmpty());
  auto reply = [](const char* status, const char* type, const std::string& body,
                  const char* extra = "") {
    return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                        "\r\nContent-Length: ", body.size(), "\r\n", extra,
                        "Connection: close\r\n\r\n", body);
  };
  if (parts.size() != 3 || parts[2].rfind("HTTP/1.", 0) != 0) {
    return reply("400 Bad Request", "text/plain", "bad request\n");
  }
  const std::string path = parts[1].substr(0, parts[1].find('?'));
  if (path != "/metrics") return reply("404 Not Found", "text/plain", "try /metrics\n");
  if (parts[0] != "GET" && parts[0] != "HEAD") {
    return reply("405 Method Not Allowed", "text/plain", "read-only\n", "Allow: GET, HEAD\r\n");
  }
  std::string body = render_();
  std::string r = reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", body);
  if (parts[0] == "HEAD") r.resize(r.size() - body.size());
  return r;
}

}  // namespace vpn::cp
