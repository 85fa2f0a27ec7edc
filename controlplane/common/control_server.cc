#include "control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "vpn/log.h"

namespace vpn::cp {

ControlServer::~ControlServer() {
  if (fd_ >= 0) {
    loop_.Unwatch(fd_);
    close(fd_);
    unlink(path_.c_str());
  }
}

absl::Status ControlServer::Listen(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    mkdir(path.substr(0, slash).c_str(), 0700);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  unlink(path.c_str());  // a stale socket of a previous run
  mode_t old = umask(0077);
  int rc = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old);
  if (rc != 0 || listen(fd, 16) != 0) {
    int e = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("control socket ", path, ": ", strerror(e)));
  }
  fd_ = fd;
  path_ = path;
  return loop_.WatchReadable(fd_, [this] { OnAccept(); });
}

void ControlServer::Register(std::vector<std::string> prefix, std::string help, Handler h) {
  commands_[std::move(prefix)] = Command{std::move(help), std::move(h)};
}

std::string ControlServer::Dispatch(const std::string& line) {
  ControlRequest req;
  for (absl::string_view w : absl::StrSplit(line, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    if (w == "--json") {
      req.json = true;
    } else {
      req.words.emplace_back(w);
    }
  }
  const Command* best = nullptr;
  size_t best_len = 0;
  for (const auto& [prefix, cmd] : commands_) {
    if (prefix.size() > req.words.size() || prefix.size() < best_len) continue;
    if (std::equal(prefix.begin(), prefix.end(), req.words.begin())) {
      best = &cmd;
      best_len = prefix.size();
    }
  }
  if (!best) {
    if (req.json) {
      std::vector<std::string> names;
      for (const auto& [prefix, cmd] : commands_) {
        names.push_back(JsonString(absl::StrJoin(prefix, " ")));
      }
      return absl::StrCat("{\"ok\": false, \"error\": \"unknown command\", \"commands\": [",
                          absl::StrJoin(names, ", "), "]}\n");
    }
    std::string out = "error: unknown command; commands:\n";
    for (const auto& [prefix, cmd] : commands_) {
      absl::StrAppend(&out, "  ", absl::StrJoin(prefix, " "), "  ", cmd.help, "\n");
    }
    return out;
  }
  req.words.erase(req.words.begin(), req.words.begin() + best_len);
  absl::StatusOr<std::string> r = best->handler(req);
  if (req.json) {
    // Every command answers --json: handlers that produce JSON return it as
    // is; plain confirmations and errors are wrapped.
    if (!r.ok()) {
      return absl::StrCat("{\"ok\": false, \"error\": ", JsonString(std::string(r.status().message())),
                          "}\n");
    }
    if (!r->empty() && (r->front() == '{' || r->front() == '[')) return *r;
    std::string text = *r;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return absl::StrCat("{\"ok\": true, \"message\": ", JsonString(text), "}\n");
  }
  if (!r.ok()) return absl::StrCat("error: ", r.status().message(), "\n");
  return *r;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, absl::StrFormat("\\u%04x", static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

void ControlServer::OnAccept() {
  int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  // Requests are one short line; read it with a bound in time and size so a
  // stuck client cannot stall the event loop for long.
  std::string line;
  char buf[512];
  pollfd p{c, POLLIN, 0};
  while (line.size() < 4096 && line.find('\n') == std::string::npos) {
    if (poll(&p, 1, 200) <= 0) break;
    ssize_t n = read(c, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, size_t(n));
  }
  std::string reply = Dispatch(line);
  size_t off = 0;
  while (off < reply.size()) {
    ssize_t n = write(c, reply.data() + off, reply.size() - off);
    if (n <= 0) break;
    off += size_t(n);
  }
  close(c);
}

}  // namespace vpn::cp
