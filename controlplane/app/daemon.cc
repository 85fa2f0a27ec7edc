#include "daemon.h"

#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include "vpn/log.h"

namespace vpn::cp {

Daemon::Daemon(config::Config cfg) : cfg_(std::move(cfg)) {}
Daemon::~Daemon() {
  if (seg_.base()) seg_.header().cp_pid.store(0);
}

absl::Status Daemon::Start() {
  shm::SegmentSizing sizing{cfg_.dataplane.max_sas, cfg_.dataplane.max_sessions,
                            cfg_.dataplane.workers};
  absl::StatusOr<shm::Segment> seg = shm::Segment::OpenOrCreate(cfg_.shm_name, sizing);
  if (!seg.ok()) return seg.status();
  seg_ = std::move(*seg);
  shm::Header& h = seg_.header();
  uint64_t other = h.cp_pid.load();
  if (other != 0 && other != uint64_t(getpid()) && kill(pid_t(other), 0) == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("another control plane (pid %d) is attached to %s", other, cfg_.shm_name));
  }
  h.cp_pid.store(getpid());
  tables_ = std::make_unique<ShmTables>(seg_);
  io_ = std::make_unique<PacketIo>(seg_);
  uint32_t adopted = tables_->AdoptExisting();
  VPN_LOG(control, kInfo, "attached to shared memory %s (%s, ABI %d, %d SA / %d session slots)",
          cfg_.shm_name, seg_.created() ? "created" : "existing", shm::kAbiVersion, h.max_sas,
          h.max_sessions);
  if (adopted) {
    VPN_LOG(control, kWarn,
            "adopted %d SA/session records left by a previous control plane; they keep "
            "forwarding until their clients reconnect or they expire",
            adopted);
  }
  loop_.AddPoller([this] {
    bool did = io_->DrainPunts([this](const PuntedPacket& p) { OnPunt(p); }) > 0;
    did |= tables_->Poll();
    return did;
  });
  control_ = std::make_unique<ControlServer>(loop_);
  if (absl::Status s = control_->Listen(cfg_.control_socket); !s.ok()) return s;
  RegisterCommands();
  Heartbeat();
  return absl::OkStatus();
}

void Daemon::RegisterCommands() {
  control_->Register({"debug"}, "SUBSYSTEM LEVEL: set a log level at run time",
                     [](const ControlRequest& r) -> absl::StatusOr<std::string> {
                       log::Subsystem s;
                       log::Level l;
                       if (r.words.size() != 2 || !log::ParseSubsystem(r.words[0], &s) ||
                           !log::ParseLevel(r.words[1], &l)) {
                         return absl::InvalidArgumentError(
                             "usage: debug {config|ike|l2tp|ppp|auth|esp|dataplane|control} "
                             "{error|warn|info|event|packet|data|0-5}");
                       }
                       log::SetLevel(s, l);
                       return absl::StrFormat("%s logging at %s\n", r.words[0],
                                              log::LevelName(l));
                     });
  control_->Register({"show", "status"}, "process and shared-memory state",
                     [this](const ControlRequest& r) -> absl::StatusOr<std::string> {
                       const shm::Header& h = seg_.header();
                       if (r.json) {
                         return absl::StrFormat(
                             "{\"abi\": %d, \"dataplane_pid\": %d, \"dataplane_ready\": %d, "
                             "\"sas\": %d, \"sessions\": %d, \"punts\": %d, "
                             "\"inject_failures\": %d}\n",
                             h.abi_version, h.dp_pid.load(), h.dp_ready.load(),
                             tables_->sas_in_use(), tables_->sessions_in_use(), counters_.punts,
                             io_->inject_failures());
                       }
                       return absl::StrFormat(
                           "shared memory %s ABI %d\ndataplane pid %d ready %d\n"
                           "SAs in use %d of %d, sessions %d of %d\npunts %d (ike %d, l2tp %d, "
                           "ppp %d), inject failures %d\n",
                           cfg_.shm_name, h.abi_version, h.dp_pid.load(), h.dp_ready.load(),
                           tables_->sas_in_use(), h.max_sas, tables_->sessions_in_use(),
                           h.max_sessions, counters_.punts, counters_.punts_ike,
                           counters_.punts_l2tp, counters_.punts_ppp, io_->inject_failures());
                     });
}

void Daemon::Heartbeat() {
  seg_.header().cp_heartbeat.fetch_add(1, std::memory_order_relaxed);
  loop_.Schedule(absl::Seconds(1), [this] { Heartbeat(); });
}

void Daemon::OnPunt(const PuntedPacket& p) {
  ++counters_.punts;
  switch (static_cast<shm::PuntKind>(p.meta.kind)) {
    case shm::PuntKind::kIke:
      ++counters_.punts_ike;
      VPN_LOG(ike, kPacket, "IKE datagram %d bytes from %08x:%d", p.data.size(),
              ntohl(p.meta.outer_src_ip), ntohs(p.meta.outer_src_port));
      break;
    case shm::PuntKind::kL2tpControl:
      ++counters_.punts_l2tp;
      break;
    case shm::PuntKind::kPppControl:
      ++counters_.punts_ppp;
      break;
    case shm::PuntKind::kSaSoftLifetime:
    case shm::PuntKind::kSaHardLifetime:
    case shm::PuntKind::kSaSeqOverflow:
      ++counters_.punts_sa_event;
      break;
    default:
      ++counters_.punts_unhandled;
      VPN_LOG(control, kWarn, "punt of unknown kind %d ignored", p.meta.kind);
  }
}

}  // namespace vpn::cp
