// ppp::Authenticator over RADIUS (RFC 2865): every method the PPP server
// speaks is forwarded as the attributes the RFCs define for it,
//
//   PAP        User-Password, hidden (RFC 2865 5.2)
//   CHAP-MD5   CHAP-Password + CHAP-Challenge (RFC 2865 5.3, 5.40)
//   EAP        pass-through (RFC 3579): each EAP Response whole in
//              EAP-Message, State echoed, Access-Challenge's EAP-Message
//              back to the peer; the server chooses the EAP method
//   MS-CHAPv1  MS-CHAP-Challenge + MS-CHAP-Response (RFC 2548 2.3.2)
//   MS-CHAPv2  MS-CHAP-Challenge + MS-CHAP2-Response (RFC 2548 2.3.2);
//              the server's MS-CHAP2-Success "S=..." goes back to the
//              client through AuthResult, MS-CHAP-Error into the log
//
// with Message-Authenticator in every Access-Request (RFC 3579 3.2,
// RFC 5080 2.2.2). From the Access-Accept: Framed-IP-Address (static
// address; 255.255.255.254/255 mean "from the pool"), Framed-Pool (a
// configured pool), Session-Timeout, Idle-Timeout, Class (kept for
// accounting; "OU=<group>" selects a configured group, the Cisco
// convention), User-Name (canonical name for accounting),
// Acct-Interim-Interval.
//
// Without pass-through (an AuthRequest for EAP-MD5 with no eap_message, as
// the PPP server builds when the Authenticator does not relay) the MD5
// response is sent as CHAP-Password over the EAP Identifier (RFC 3748 5.4).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "client.h"
#include "ppp/authenticator.h"
#include "radius_packet.h"
#include "vpn/config.h"

namespace vpn::radius {

// What an Access-Accept said that matters after authentication.
struct Grant {
  std::string user_name;                // for accounting (RFC 2865 5.1)
  std::vector<Bytes> classes;           // echoed in accounting (RFC 2865 5.25)
  std::optional<uint32_t> interim_interval_s;  // RFC 2869 5.16
};

struct AuthCounters {
  uint64_t requests = 0, accepts = 0, rejects = 0, challenges = 0, unavailable = 0,
           malformed_accepts = 0;
};

class RadiusAuthenticator : public ppp::Authenticator {
 public:
  // `client` and `config` outlive the authenticator.
  RadiusAuthenticator(Client& client, const config::Config& config);
  ~RadiusAuthenticator() override;

  void Authenticate(const ppp::AuthRequest& request, Done done) override;
  bool RelaysEap() const override { return true; }

  // The Grant of the last accepted authentication of the session whose PPP
  // peer string is `peer` (AuthRequest::peer), handed over once.
  std::optional<Grant> TakeGrant(const std::string& peer);
  void Forget(const std::string& peer) { grants_.erase(peer); }
  const AuthCounters& counters() const { return counters_; }

  // The Access-Request for `request` (without Identifier/authenticator).
  static absl::StatusOr<Packet> BuildAccessRequest(const ppp::AuthRequest& request,
                                                   const config::Config& config);
  // The AuthResult for a verified reply to that request.
  static ppp::AuthResult InterpretReply(const ppp::AuthRequest& request, const Packet& reply,
                                        const config::Config& config, Grant* grant);

 private:
  Client& client_;
  const config::Config& config_;
  std::set<Client::RequestId> outstanding_;
  std::map<std::string, Grant> grants_;
  AuthCounters counters_;
};

// "OU=sales;" -> "sales" (also "ou=sales" and fields separated by ';').
std::string GroupFromClass(ByteSpan class_value);

}  // namespace vpn::radius
