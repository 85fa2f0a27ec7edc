// The IKEv1 engine shared by our responder and our initiator: the IKE SA
// table (keyed by our cookie), dispatch of datagrams to the exchange
// classes, sending/retransmission, timers, deletes and bookkeeping. The
// exchange logic lives in one class per exchange (main_mode_*.cc,
// quick_mode_*.cc, informational.cc), like strongSwan's tasks.
//
// Not for direct use outside controlplane/ike: see responder.h/initiator.h.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "certs.h"
#include "fragments.h"
#include "counters.h"
#include "events.h"
#include "ike_sa.h"
#include "vpn/config.h"

namespace vpn::ike {

class MainModeResponder;
class MainModeInitiator;
class QuickModeResponder;
class QuickModeInitiator;
class Informational;
class AggressiveModeResponder;
class AggressiveModeInitiator;

// Settings only our initiator uses (the client simulator / tests).
struct InitiatorOptions {
  std::optional<IdPayload> local_id;   // default: ID_IPV4_ADDR of the local address
  uint32_t inner_ip = 0;               // network order; IDci / NAT-OAi (0: local ip)
  bool send_rfc3947_vid = true;
  bool send_draft_vids = true;         // draft-02, draft-02\n, draft-03
  bool send_dpd_vid = true;
  bool send_ms_vid = true;             // MS NT5 ISAKMPOAKLEY, as Windows does
  bool send_frag_vid = true;           // FRAGMENTATION (we reassemble and fragment)
  bool initial_contact = true;
  bool commit = false;                 // set the commit bit in Quick Mode
  bool responder_port_zero = false;    // IDcr port 0 (some Windows/Apple forms)
  uint8_t qm_protocol = 17;            // IDci/IDcr protocol (tests: wrong values)
  uint16_t qm_port = 1701;             // IDci port
  bool auto_quick_mode = true;         // start QM as soon as MM completes
  // Phase 1 authentication: kPsk (cfg.psk) or kRsaSig (cfg.cert_file/
  // key_file, the responder's certificate checked against cfg.ca_file).
  AuthMethod auth = AuthMethod::kPsk;
  bool send_certreq = true;            // CERTREQ naming our CAs in message 3
  bool send_cert = true;               // our CERT in message 5 (when asked)
  // Windows' rule for the gateway certificate (seed 003): serverAuth or
  // iKEIntermediate EKU.
  bool require_server_eku = true;
  bool aggressive = false;             // Aggressive Mode instead of Main Mode
  double rekey_fraction = 0;           // rekey children at this share of lifetime
  int max_retransmits = 4;
  absl::Duration retransmit_base = absl::Seconds(2);
};

// Settings of the daemon outside [ike] that the engine applies.
struct ResponderOptions {
  // [dataplane] replay_window: anti-replay window of inbound ESP SAs in
  // packets (RFC 4303 3.4.3), 0 disables.
  uint32_t replay_window = 1024;
};

struct IkeSaSummary {
  uint64_t id = 0;
  uint64_t icookie = 0, rcookie = 0;
  bool initiator = false;
  std::string state;
  Endpoint local, remote;
  std::string peer_id;
  std::string suite;
  std::string nat_t;          // "none", "draft", "rfc3947"
  bool peer_behind_nat = false;
  absl::Duration age;
  absl::Duration lifetime_left;
  size_t child_sas = 0;
};

class Engine {
 public:
  Engine(const config::Ike& cfg, cp::TimerQueue& timers, cp::SaSink& sink, Transport& transport,
         Events& events, bool responder, InitiatorOptions opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Configuration errors (bad proposal strings) found at construction.
  const absl::Status& init_status() const { return init_status_; }
  // Operator reload: proposals, PSKs, lifetimes and timers for exchanges that
  // start from now on (running timers of existing SAs read the new DPD
  // values at their next tick). On a bad proposal nothing changes.
  absl::Status Reconfigure(const config::Ike& cfg);

  void OnDatagram(const Endpoint& local, const Endpoint& remote, ByteSpan msg);

  std::vector<IkeSaSummary> ListIkeSas() const;
  // Deletes every IKE SA (and its ESP SAs) of this peer, telling the peer.
  int DeleteByPeer(uint32_t ip_net, std::optional<uint16_t> port);
  bool DeleteIkeSaById(uint64_t id);
  const Counters& counters() const { return counters_; }
  const IkeSa* FindSa(uint64_t id) const;
  size_t ike_sa_count() const { return sas_.size(); }

  // --- Initiator operations.
  absl::StatusOr<uint64_t> StartMainMode(const Endpoint& local, const Endpoint& remote);
  absl::Status StartQuickMode(uint64_t ike_sa, uint32_t replaces_inbound_spi = 0);
  absl::Status DeleteChild(uint64_t ike_sa, uint32_t inbound_spi);
  absl::Status SendDpd(uint64_t ike_sa);

  // --- Used by the exchange classes.
  const config::Ike& cfg() const { return cfg_; }
  const InitiatorOptions& opts() const { return opts_; }
  void set_responder_options(const ResponderOptions& o) { ropts_ = o; }
  const std::vector<IkeSuite>& ike_suites() const { return ike_suites_; }
  // Loaded from ca_file/cert_file/key_file; null without certificates.
  const CertStore* certs() const { return certs_.get(); }
  // Responder: the phase 1 methods a peer at `remote` may propose (message
  // 1 shows only the address; an [[ike.peer]] entry for it decides, else
  // PSK when any key is configured and RSA signatures when certificates are).
  std::vector<AuthMethod> AllowedAuth(const Endpoint& remote) const;
  // Responder, after the ID is known: false when an [[ike.peer]] entry for
  // this identity requires the other method.
  bool AuthAllowedForId(const IdPayload& id, AuthMethod used) const;
  const std::vector<EspSuite>& esp_suites() const { return esp_suites_; }
  cp::TimerQueue& timers() { return timers_; }
  cp::SaSink& sink() { return sink_; }
  Events& events() { return events_; }
  Counters& counters() { return counters_; }

  IkeSa* Find(uint64_t id);
  IkeSa& CreateSa(bool initiator, const Endpoint& local, const Endpoint& remote,
                  uint64_t icookie);
  // Half-open admission (before any DH work): false when over a limit.
  bool AdmitHalfOpen(const Endpoint& remote, uint64_t icookie, ByteSpan msg);
  void SendRaw(const Endpoint& local, const Endpoint& remote, ByteSpan msg);
  // To the SA's peer; in fragments (fragments.h) when the peer announced
  // FRAGMENTATION and the datagram would exceed cfg.fragment_size.
  void Send(IkeSa& sa, ByteSpan msg);
  // Sends `reply` and remembers it as the answer to `request`.
  void Answer(IkeSa& sa, ByteSpan request, Bytes reply);
  // A request we refused without a reply (e.g. a Main Mode message 5 that
  // does not decrypt): its byte-identical retransmissions are duplicates,
  // dropped and counted without another refusal log line.
  void RememberRefused(IkeSa& sa, ByteSpan request) { Answer(sa, request, {}); }
  // Unprotected notify (before keys exist, or to an unknown SA).
  void SendPlainNotify(const Endpoint& local, const Endpoint& remote, uint64_t icookie,
                       uint64_t rcookie, NotifyType type, Bytes data = {});
  // Protected Informational exchange (RFC 2409 5.7) with a fresh M-ID.
  absl::Status SendInformational(IkeSa& sa, const std::vector<RawPayload>& payloads);
  // A refusal: one log line with peer and reason, one counter, the notify
  // (protected when the SA is established and `sa` is given).
  void Refuse(IkeSa* sa, const Endpoint& local, const Endpoint& remote, uint64_t icookie,
              uint64_t rcookie, std::optional<NotifyType> notify, uint64_t Counters::*counter,
              const std::string& reason);
  // Phase 1 complete: timers, INITIAL-CONTACT, adoption of rekeyed children.
  void OnEstablished(IkeSa& sa);
  // Removes the IKE SA. Its ESP SAs move to a newer IKE SA of the same
  // identity (phase 1 rekey) or are removed.
  void DeleteIkeSa(IkeSa& sa, const std::string& reason, bool send_delete);
  // Initiator: installs the pair negotiated by `qm` (KEYMAT per RFC 2409
  // 5.5) at once.
  bool InstallChild(IkeSa& sa, QuickMode& qm);
  // Responder: the inbound half goes live before message 2 is sent, the
  // outbound half with message 3 (CompleteChild). False: nothing installed.
  bool InstallInboundChild(IkeSa& sa, QuickMode& qm);
  bool CompleteChild(IkeSa& sa, QuickMode& qm);
  // A Quick Mode that will not complete (timeout, IKE SA gone, refusal):
  // cancels its timers and removes its inbound-only SA (Events::
  // OnChildSaAborted when `notify`) or releases its reserved SPI. The caller
  // erases it from sa.quick_modes.
  void DropQuickMode(IkeSa& sa, QuickMode& qm, bool notify, const std::string& reason);
  // (Re)arms a child's expiry and (initiator) rekey timers on `sa`,
  // relative to its installation time.
  void ArmChildTimers(IkeSa& sa, ChildSa& c);
  // Phase 1 rekey: moves every ESP SA of `from` to `to` (timers, SaSink
  // owner, Events::OnChildSaMoved).
  void MoveChildren(IkeSa& from, IkeSa& to);
  // The newest other established IKE SA of the same identity and role
  // (the one a phase 1 rekey created), or null.
  IkeSa* Successor(const IkeSa& sa);
  IkeSa* FindByCookies(uint64_t icookie, uint64_t rcookie) {
    Header h;
    h.icookie = icookie;
    h.rcookie = rcookie;
    return LookupForMessage(h);
  }
  void RemoveChild(IkeSa& sa, uint32_t inbound_spi, bool send_delete, const std::string& reason);
  // Finds the IKE SA + child that owns an SPI as the peer names it in a
  // DELETE: our outbound SPI first (what the peer receives on), then inbound.
  std::pair<IkeSa*, ChildSa*> FindChildForPeerSpi(IkeSa& via, uint32_t spi);
  uint32_t NewMessageId(IkeSa& sa);
  bool MessageIdUsed(const IkeSa& sa, uint32_t mid) const;
  void FinishMessageId(IkeSa& sa, uint32_t mid);
  // Schedules `fn` on the SA by id (a no-op if the SA is gone by then).
  cp::TimerQueue::TimerId ScheduleOn(IkeSa& sa, absl::Duration after,
                                     std::function<void(IkeSa&)> fn);
  // Initiator retransmission of `msg` with exponential backoff; gives up and
  // deletes the SA (or the QM) after opts.max_retransmits.
  void ArmRetransmit(IkeSa& sa, std::optional<uint32_t> qm_mid);
  void NoteHeardFrom(IkeSa& sa);
  // Another established IKE SA to the same peer endpoint (a rekey, not a
  // first contact).
  bool HasOtherEstablishedSa(const IkeSa& sa) const;
  Bytes Phase2Iv(const IkeSa& sa, uint32_t mid) const;
  Informational& informational() { return *informational_; }
  QuickModeInitiator& qm_initiator() { return *qm_initiator_; }

 private:
  void Dispatch(const Endpoint& local, const Endpoint& remote, ByteSpan msg, const Header& h);
  // A datagram carrying payload 132: reassembles and dispatches the whole.
  void OnFragment(const Endpoint& local, const Endpoint& remote, ByteSpan msg);
  IkeSa* LookupForMessage(const Header& h);
  void ReleaseHalfOpen(IkeSa& sa);
  void CancelTimers(IkeSa& sa);
  void StartDpd(IkeSa& sa);
  void StartNatKeepalive(IkeSa& sa);
  void DpdTick(IkeSa& sa);
  cp::ChildSaInstall ChildInstallOf(const IkeSa& sa, const QuickMode& qm) const;
  ChildSaInfo ChildInfoOf(const IkeSa& sa, const QuickMode& qm) const;
  // Makes the installed pair `h` a child of `sa` (timers, event).
  void AdoptChild(IkeSa& sa, QuickMode& qm, const cp::ChildSaHandle& h);
  bool IsAnsweredDuplicate(IkeSa& sa, ByteSpan msg);

  config::Ike cfg_;  // replaced only by Reconfigure
  const InitiatorOptions opts_;
  ResponderOptions ropts_;
  const bool responder_;
  absl::Status init_status_;
  std::vector<IkeSuite> ike_suites_;
  std::vector<EspSuite> esp_suites_;
  std::unique_ptr<CertStore> certs_;
  Reassembler reassembler_;
  cp::TimerQueue& timers_;
  cp::SaSink& sink_;
  Transport& transport_;
  Events& events_;
  Counters counters_;

  std::map<uint64_t, std::unique_ptr<IkeSa>> sas_;      // by our cookie
  std::map<uint64_t, uint64_t> half_open_by_icookie_;   // responder: CKY-I -> ours
  std::map<uint32_t, uint32_t> half_open_by_ip_;
  uint32_t half_open_total_ = 0;
  absl::Time log_window_start_;
  int log_lines_in_window_ = 0;

  std::unique_ptr<MainModeResponder> mm_responder_;
  std::unique_ptr<MainModeInitiator> mm_initiator_;
  std::unique_ptr<QuickModeResponder> qm_responder_;
  std::unique_ptr<QuickModeInitiator> qm_initiator_;
  std::unique_ptr<Informational> informational_;
  std::unique_ptr<AggressiveModeResponder> am_responder_;
  std::unique_ptr<AggressiveModeInitiator> am_initiator_;
};

}  // namespace vpn::ike
