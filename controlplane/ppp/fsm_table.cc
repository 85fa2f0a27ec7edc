// RFC 1661 section 4.1 state transition table, transcribed as data.
//
//       | State
//       |    0         1         2         3         4         5
// Events| Initial   Starting  Closed    Stopped   Closing   Stopping
// ------+-----------------------------------------------------------
//  Up   |    2     irc,scr/6     -         -         -         -
//  Down |    -         -         0       tls/1       0         1
//  Open |  tls/1       1     irc,scr/6     3r        5r        5r
//  Close|    0       tlf/0       2         2         4         4
//   TO+ |    -         -         -         -       str/4     str/5
//   TO- |    -         -         -         -       tlf/2     tlf/3
//  RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5
//  RCR- |    -         -       sta/2 irc,scr,scn/6   4         5
//  RCA  |    -         -       sta/2     sta/3       4         5
//  RCN  |    -         -       sta/2     sta/3       4         5
//  RTR  |    -         -       sta/2     sta/3     sta/4     sta/5
//  RTA  |    -         -         2         3       tlf/2     tlf/3
//  RUC  |    -         -       scj/2     scj/3     scj/4     scj/5
//  RXJ+ |    -         -         2         3         4         5
//  RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3
//  RXR  |    -         -         2         3         4         5
//
//       | State
//       |    6         7         8           9
// Events| Req-Sent  Ack-Rcvd  Ack-Sent    Opened
// ------+-----------------------------------------
//  Up   |    -         -         -           -
//  Down |    1         1         1         tld/1
//  Open |    6         7         8           9r
//  Close|irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
//   TO+ |  scr/6     scr/6     scr/8         -
//   TO- |  tlf/3p    tlf/3p    tlf/3p        -
//  RCR+ |  sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
//  RCR- |  scn/6     scn/7     scn/6   tld,scr,scn/6
//  RCA  |  irc/7     scr/6x    irc,tlu/9   tld,scr/6x
//  RCN  |irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
//  RTR  |  sta/6     sta/6     sta/6     tld,zrc,sta/5
//  RTA  |    6         6         8       tld,scr/6
//  RUC  |  scj/6     scj/7     scj/8       scj/9
//  RXJ+ |    6         6         8           9
//  RXJ- |  tlf/3     tlf/3     tlf/3     tld,irc,str/5
//  RXR  |    6         7         8         ser/9
//
// Options "r" (restart) and "p" (passive) are not implemented: "3r"/"5r"/"9r"
// stay in the state, "3p" is plain 3. "x" (crossed connection) needs no
// special handling.
#include "fsm.h"

namespace vpn::ppp {
namespace {

using A = FsmAction;
using S = FsmState;

constexpr FsmTransition X{};  // "-"
constexpr FsmTransition T(S next) { return {true, {}, next}; }
constexpr FsmTransition T(A a, S next) { return {true, {a}, next}; }
constexpr FsmTransition T(A a, A b, S next) { return {true, {a, b}, next}; }
constexpr FsmTransition T(A a, A b, A c, S next) {
  return {true, {a, b, c}, next};
}

constexpr FsmTransition kTable[kFsmEventCount][kFsmStateCount] = {
    // Up
    {T(S::kClosed), T(A::kIrc, A::kScr, S::kReqSent), X, X, X, X, X, X, X, X},
    // Down
    {X, X, T(S::kInitial), T(A::kTls, S::kStarting), T(S::kInitial),
     T(S::kStarting), T(S::kStarting), T(S::kStarting), T(S::kStarting),
     T(A::kTld, S::kStarting)},
    // Open
    {T(A::kTls, S::kStarting), T(S::kStarting),
     T(A::kIrc, A::kScr, S::kReqSent), T(S::kStopped), T(S::kStopping),
     T(S::kStopping), T(S::kReqSent), T(S::kAckRcvd), T(S::kAckSent),
     T(S::kOpened)},
    // Close
    {T(S::kInitial), T(A::kTlf, S::kInitial), T(S::kClosed), T(S::kClosed),
     T(S::kClosing), T(S::kClosing), T(A::kIrc, A::kStr, S::kClosing),
     T(A::kIrc, A::kStr, S::kClosing), T(A::kIrc, A::kStr, S::kClosing),
     T(A::kTld, A::kIrc, A::kStr, S::kClosing)},
    // TO+
    {X, X, X, X, T(A::kStr, S::kClosing), T(A::kStr, S::kStopping),
     T(A::kScr, S::kReqSent), T(A::kScr, S::kReqSent),
     T(A::kScr, S::kAckSent), X},
    // TO-
    {X, X, X, X, T(A::kTlf, S::kClosed), T(A::kTlf, S::kStopped),
     T(A::kTlf, S::kStopped), T(A::kTlf, S::kStopped),
     T(A::kTlf, S::kStopped), X},
    // RCR+
    {X, X, T(A::kSta, S::kClosed), T(A::kIrc, A::kScr, A::kSca, S::kAckSent),
     T(S::kClosing), T(S::kStopping), T(A::kSca, S::kAckSent),
     T(A::kSca, A::kTlu, S::kOpened), T(A::kSca, S::kAckSent),
     T(A::kTld, A::kScr, A::kSca, S::kAckSent)},
    // RCR-
    {X, X, T(A::kSta, S::kClosed), T(A::kIrc, A::kScr, A::kScn, S::kReqSent),
     T(S::kClosing), T(S::kStopping), T(A::kScn, S::kReqSent),
     T(A::kScn, S::kAckRcvd), T(A::kScn, S::kReqSent),
     T(A::kTld, A::kScr, A::kScn, S::kReqSent)},
    // RCA
    {X, X, T(A::kSta, S::kClosed), T(A::kSta, S::kStopped), T(S::kClosing),
     T(S::kStopping), T(A::kIrc, S::kAckRcvd), T(A::kScr, S::kReqSent),
     T(A::kIrc, A::kTlu, S::kOpened), T(A::kTld, A::kScr, S::kReqSent)},
    // RCN
    {X, X, T(A::kSta, S::kClosed), T(A::kSta, S::kStopped), T(S::kClosing),
     T(S::kStopping), T(A::kIrc, A::kScr, S::kReqSent),
     T(A::kScr, S::kReqSent), T(A::kIrc, A::kScr, S::kAckSent),
     T(A::kTld, A::kScr, S::kReqSent)},
    // RTR
    {X, X, T(A::kSta, S::kClosed), T(A::kSta, S::kStopped),
     T(A::kSta, S::kClosing), T(A::kSta, S::kStopping),
     T(A::kSta, S::kReqSent), T(A::kSta, S::kReqSent),
     T(A::kSta, S::kReqSent), T(A::kTld, A::kZrc, A::kSta, S::kStopping)},
    // RTA
    {X, X, T(S::kClosed), T(S::kStopped), T(A::kTlf, S::kClosed),
     T(A::kTlf, S::kStopped), T(S::kReqSent), T(S::kReqSent),
     T(S::kAckSent), T(A::kTld, A::kScr, S::kReqSent)},
    // RUC
    {X, X, T(A::kScj, S::kClosed), T(A::kScj, S::kStopped),
     T(A::kScj, S::kClosing), T(A::kScj, S::kStopping),
     T(A::kScj, S::kReqSent), T(A::kScj, S::kAckRcvd),
     T(A::kScj, S::kAckSent), T(A::kScj, S::kOpened)},
    // RXJ+
    {X, X, T(S::kClosed), T(S::kStopped), T(S::kClosing), T(S::kStopping),
     T(S::kReqSent), T(S::kReqSent), T(S::kAckSent), T(S::kOpened)},
    // RXJ-
    {X, X, T(A::kTlf, S::kClosed), T(A::kTlf, S::kStopped),
     T(A::kTlf, S::kClosed), T(A::kTlf, S::kStopped),
     T(A::kTlf, S::kStopped), T(A::kTlf, S::kStopped),
     T(A::kTlf, S::kStopped), T(A::kTld, A::kIrc, A::kStr, S::kStopping)},
    // RXR
    {X, X, T(S::kClosed), T(S::kStopped), T(S::kClosing), T(S::kStopping),
     T(S::kReqSent), T(S::kAckRcvd), T(S::kAckSent),
     T(A::kSer, S::kOpened)},
};

}  // namespace

const FsmTransition& LookupTransition(FsmEvent e, FsmState s) {
  return kTable[static_cast<int>(e)][static_cast<int>(s)];
}

std::string_view StateName(FsmState s) {
  static constexpr std::string_view kNames[] = {
      "Initial", "Starting", "Closed",   "Stopped",  "Closing",
      "Stopping", "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"};
  return kNames[static_cast<int>(s)];
}

std::string_view EventName(FsmEvent e) {
  static constexpr std::string_view kNames[] = {
      "Up",  "Down", "Open", "Close", "TO+", "TO-", "RCR+", "RCR-",
      "RCA", "RCN",  "RTR",  "RTA",   "RUC", "RXJ+", "RXJ-", "RXR"};
  return kNames[static_cast<int>(e)];
}

std::string_view ActionName(FsmAction a) {
  static constexpr std::string_view kNames[] = {
      "", "tlu", "tld", "tls", "tlf", "irc", "zrc",
      "scr", "sca", "scn", "str", "sta", "scj", "ser"};
  return kNames[static_cast<int>(a)];
}

}  // namespace vpn::ppp
