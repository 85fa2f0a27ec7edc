// The operator's Unix control socket (vpnctl). One request per connection:
// the client writes one line ("show sessions --json"), we answer and close.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "event_loop.h"

namespace vpn::cp {

// A JSON string literal: quoted, with ", \ and control characters escaped.
std::string JsonString(std::string_view s);

// With --json every command answers JSON: a handler's JSON ('{' or '[')
// as is, other text as {"ok": true, "message": TEXT}, errors as
// {"ok": false, "error": MESSAGE}.
struct ControlRequest {
  std::vector<std::string> words;  // command words and arguments
  bool json = false;               // --json given
};

class ControlServer {
 public:
  using Handler = std::function<absl::StatusOr<std::string>(const ControlRequest&)>;

  explicit ControlServer(EventLoop& loop) : loop_(loop) {}
  ~ControlServer();
  // Creates the socket (mode 0600, parent directory created) and listens.
  absl::Status Listen(const std::string& path);
  // `prefix` is matched against the first words, e.g. {"show", "sessions"};
  // the longest registered prefix wins.
  void Register(std::vector<std::string> prefix, std::string help, Handler h);
  // Runs a request as if it came from the socket (tests, and the reply text).
  std::string Dispatch(const std::string& line);

 private:
  void OnAccept();

  struct Command {
    std::string help;
    Handler handler;
  };
  EventLoop& loop_;
  int fd_ = -1;
  std::string path_;
  std::map<std::vector<std::string>, Command> commands_;
};

}  // namespace vpn::cp
