#include "capture_manager.h"

#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "vpn/log.h"

namespace vpn::cp {
namespace {

uint64_t ReadTsc() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_ia32_rdtsc();
#else
  return 0;
#endif
}

}  // namespace

absl::Status CaptureSpec::Validate(uint32_t n_ports) const {
  if (path.empty() || path[0] != '/') {
    return absl::InvalidArgumentError("capture file must be an absolute path");
  }
  const uint32_t valid = n_ports >= 32 ? ~0u : (1u << n_ports) - 1;
  if (!port_mask || (port_mask & ~valid)) return absl::InvalidArgumentError("no such port");
  if (!(directions & (shm::kCaptureRx | shm::kCaptureTx)))
    return absl::InvalidArgumentError("direction must be rx, tx or both");
  if (snaplen < 14 || snaplen > shm::kMaxPacketData)
    return absl::InvalidArgumentError(
        absl::StrFormat("snaplen must be 14-%d bytes", shm::kMaxPacketData));
  if (!max_packets || max_packets > kMaxPackets)
    return absl::InvalidArgumentError(absl::StrFormat("count must be 1-%d", kMaxPackets));
  if (max_bytes < 4096 || max_bytes > kMaxBytes)
    return absl::InvalidArgumentError(absl::StrFormat("size must be 4096-%d bytes", kMaxBytes));
  if (!duration_s || duration_s > kMaxDuration)
    return absl::InvalidArgumentError(absl::StrFormat("duration must be 1-%d s", kMaxDuration));
  if (!max_pps || max_pps > kMaxPps)
    return absl::InvalidArgumentError(absl::StrFormat("rate must be 1-%d pps", kMaxPps));
  return absl::OkStatus();
}

CaptureManager::CaptureManager(EventLoop& loop, shm::Segment& seg, PacketIo& io,
                               std::vector<std::string> port_names)
    : loop_(loop), seg_(seg), io_(io), port_names_(std::move(port_names)),
      // Ids differ between control-plane runs, so frames of a capture a
      // previous process started are recognised as stale.
      next_id_(uint32_t(getpid()) << 12 | 1) {}

CaptureManager::~CaptureManager() {
  if (cur_) Finish("control plane stopping");
}

bool CaptureManager::SendRequest(uint8_t op, uint32_t id, const CaptureSpec* spec) {
  shm::CaptureRequest req{};
  req.id = id;
  req.op = op;
  if (spec) {
    req.directions = spec->directions;
    req.snaplen = uint16_t(spec->snaplen);
    req.port_mask = spec->port_mask;
    req.ip = spec->ip;
    req.max_pps = spec->max_pps;
    // The dataplane stops by itself a little after we would.
    req.duration_ms = spec->duration_s * 1000 + 2000;
  }
  shm::PacketMeta meta{};
  meta.kind = shm::kInjectCaptureControl;
  meta.length = sizeof req;
  meta.sa_index = meta.session_index = shm::kInvalidIndex;
  uint8_t buf[sizeof req];
  std::memcpy(buf, &req, sizeof req);
  return io_.Inject(meta, buf);
}

absl::StatusOr<uint32_t> CaptureManager::Start(CaptureSpec spec) {
  if (cur_) {
    return absl::FailedPreconditionError(
        absl::StrFormat("capture %d is running (capture stop %d)", cur_->id, cur_->id));
  }
  if (absl::Status s = spec.Validate(uint32_t(port_names_.size())); !s.ok()) return s;
  if (!seg_.header().dp_pid.load()) {
    return absl::UnavailableError("no dataplane attached: nothing to capture");
  }
  std::vector<std::string> ifaces;
  for (const std::string& n : port_names_) ifaces.push_back(n);
  if (absl::Status s = file_.Open(spec.path, ifaces, spec.snaplen, spec.description); !s.ok())
    return s;
  const uint32_t id = next_id_++;
  if (next_id_ == 0) next_id_ = 1;
  if (!SendRequest(shm::kCaptureStart, id, &spec)) {
    (void)file_.Close();
    unlink(spec.path.c_str());
    return absl::UnavailableError("inject ring to the dataplane is full; try again");
  }
  CaptureInfo info;
  info.id = id;
  info.running = true;
  info.started = absl::Now();
  info.spec = std::move(spec);
  cur_ = std::move(info);
  tsc0_ = ReadTsc();
  wall0_ = absl::Now();
  timer_ = loop_.Schedule(absl::Seconds(cur_->spec.duration_s), [this] {
    timer_ = 0;
    Finish("duration");
  });
  VPN_LOG(control, kInfo, "capture %d started: %s -> %s", id, cur_->spec.description,
          cur_->spec.path);
  return id;
}

absl::Status CaptureManager::Stop(uint32_t id, const std::string& why) {
  if (!cur_ || (id && cur_->id != id)) return absl::NotFoundError("no such running capture");
  Finish(why);
  return absl::OkStatus();
}

uint64_t CaptureManager::UnixNs(uint64_t tsc) const {
  const uint64_t hz = seg_.header().dp_tsc_hz.load();
  const int64_t wall0 = absl::ToUnixNanos(wall0_);
  if (!hz || !tsc0_ || !tsc) return uint64_t(absl::ToUnixNanos(absl::Now()));
  // Both processes read the same invariant TSC.
  const int64_t dt = int64_t(tsc - tsc0_);
  const int64_t ns = int64_t(static_cast<__int128>(dt) * 1000000000 / int64_t(hz));
  return uint64_t(wall0 + ns);
}

void CaptureManager::OnPunt(const shm::PacketMeta& meta, std::span<const uint8_t> data) {
  if (!cur_ || meta.session_index != cur_->id) {
    if (cur_) ++cur_->stale;
    return;
  }
  if (meta.port >= port_names_.size() || data.empty()) return;
  // An EPB is 32 bytes of header and trailer plus the padded data and the
  // 12-byte flags option.
  const uint64_t block = 32 + ((data.size() + 3) & ~size_t(3)) + 12;
  if (file_.bytes_written() + block > cur_->spec.max_bytes) {
    Finish("size");
    return;
  }
  absl::Status s = file_.Write(meta.port, UnixNs(meta.tsc), meta.flags & shm::kMetaCaptureTx,
                               data, meta.sa_index);
  if (!s.ok()) {
    VPN_LOG(control, kWarn, "capture %d: %s", cur_->id, s.message());
    Finish("write error");
    return;
  }
  ++cur_->packets;
  cur_->file_bytes = file_.bytes_written();
  if (cur_->packets >= cur_->spec.max_packets) Finish("count");
}

void CaptureManager::Finish(const std::string& why) {
  if (!cur_) return;
  SendRequest(shm::kCaptureStop, cur_->id, nullptr);  // the deadline covers a full ring
  if (timer_) loop_.Cancel(timer_);
  timer_ = 0;
  if (absl::Status s = file_.Close(); !s.ok())
    VPN_LOG(control, kWarn, "capture %d: %s", cur_->id, s.message());
  cur_->running = false;
  cur_->end_reason = why;
  cur_->ended = absl::Now();
  VPN_LOG(control, kInfo, "capture %d ended (%s): %d packets, %d bytes in %s", cur_->id, why,
          cur_->packets, cur_->file_bytes, cur_->spec.path);
  done_.push_front(std::move(*cur_));
  cur_.reset();
  while (done_.size() > 8) done_.pop_back();
}

std::optional<CaptureInfo> CaptureManager::Info(uint32_t id) const {
  if (cur_ && (id == 0 || cur_->id == id)) return cur_;
  for (const CaptureInfo& c : done_)
    if (id == 0 || c.id == id) return c;
  return std::nullopt;
}

}  // namespace vpn::cp
