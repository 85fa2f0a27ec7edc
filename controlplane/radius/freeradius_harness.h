// A real FreeRADIUS (Debian's freeradius 3.2) for the integration test: a
// minimal configuration generated in a temporary directory (pap, chap,
// mschap, eap with md5 for RFC 3579 pass-through, files, detail), listening on 127.0.0.1 high ports, run in the
// foreground (-X) as a child process, stopped and restarted on demand.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace vpn::radius::testing {

// VPN_FREERADIUS overrides the path (e.g. to check the skip path).
inline const char* FreeradiusBinary() {
  const char* env = getenv("VPN_FREERADIUS");
  return env && *env ? env : "/usr/sbin/freeradius";
}

inline bool FreeradiusInstalled() { return access(FreeradiusBinary(), X_OK) == 0; }

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Freeradius {
 public:
  Freeradius(std::string secret, uint16_t auth_port, uint16_t acct_port, std::string users)
      : secret_(std::move(secret)), auth_port_(auth_port), acct_port_(acct_port) {
    char tmpl[] = "/tmp/radius-it-XXXXXX";
    dir_ = mkdtemp(tmpl);
    Write("dictionary", "$INCLUDE /usr/share/freeradius/dictionary\n");
    Write("users", users);
    Write("radiusd.conf", Config());
  }
  ~Freeradius() {
    Stop();
    if (!getenv("KEEP_RADIUS_DIR")) {
      const std::string cmd = "rm -rf '" + dir_ + "'";
      (void)system(cmd.c_str());
    }
  }

  // Starts and waits for "Ready to process requests"; false on failure.
  bool Start() {
    Stop();
    const std::string log = dir_ + "/radiusd.log";
    // The log is appended to by every start, and -X prints the ready line
    // once per listener group: wait for more of them than there were.
    const size_t before = CountReady(ReadWholeFile(log));
    const std::string conf_dir = dir_;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const char* argv[] = {"freeradius", "-X", "-d", conf_dir.c_str(), "-n", "radiusd", nullptr};
    const int rc = posix_spawn(&pid_, FreeradiusBinary(), &fa, nullptr,
                               const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      pid_ = 0;
      return false;
    }
    const absl::Time end = absl::Now() + absl::Seconds(20);
    while (absl::Now() < end) {
      if (CountReady(ReadWholeFile(log)) > before) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return false;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 100 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = 0;
  }

  static size_t CountReady(const std::string& text) {
    size_t n = 0;
    for (size_t p = text.find("Ready to process requests"); p != std::string::npos;
         p = text.find("Ready to process requests", p + 1)) {
      ++n;
    }
    return n;
  }

  std::string Detail() const { return ReadWholeFile(dir_ + "/acct/detail"); }
  std::string Log() const { return ReadWholeFile(dir_ + "/radiusd.log"); }
  const std::string& dir() const { return dir_; }
  uint16_t auth_port() const { return auth_port_; }
  uint16_t acct_port() const { return acct_port_; }

 private:
  void Write(const std::string& name, const std::string& text) {
    std::ofstream out(dir_ + "/" + name);
    out << text;
  }
  std::string Config() const {
    return absl::StrFormat(R"(prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = %1$s
sbindir = /usr/sbin
logdir = %1$s
raddbdir = %1$s
radacctdir = %1$s/acct
name = freeradius
confdir = ${raddbdir}
modconfdir = ${confdir}
run_dir = %1$s
db_dir = %1$s
libdir = /usr/lib/freeradius
pidfile = %1$s/radiusd.pid
max_request_time = 30
cleanup_delay = 1
max_requests = 1024
hostname_lookups = no
log {
  destination = stdout
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = yes
}
client local {
  ipaddr = 127.0.0.1
  secret = %2$s
}
modules {
  pap {
  }
  chap {
  }
  mschap {
  }
  eap {
    default_eap_type = md5
    timer_expire = 60
    ignore_unknown_eap_types = no
    max_sessions = 1024
    md5 {
    }
  }
  files {
    filename = %1$s/users
  }
  detail {
    filename = %1$s/acct/detail
    escape_filenames = no
    permissions = 0600
    header = "%%t"
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = %3$d
  }
  listen {
    type = acct
    ipaddr = 127.0.0.1
    port = %4$d
  }
  authorize {
    files
    chap
    mschap
    eap {
      ok = return
    }
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
    Auth-Type CHAP {
      chap
    }
    Auth-Type MS-CHAP {
      mschap
    }
    Auth-Type EAP {
      eap
    }
  }
  preacct {
  }
  accounting {
    detail
  }
  post-auth {
  }
}
)",
                           dir_, secret_, auth_port_, acct_port_);
  }

  std::string secret_;
  uint16_t auth_port_, acct_port_;
  std::string dir_;
  pid_t pid_ = 0;
};

}  // namespace vpn::radius::testing
