// L2TP data messages (RFC 2661 3.1 with T=0, controlplane/l2tp
// data_message.cc and the LNS's data path) into an LNS whose tunnel and
// session our LAC brought up, so ids and sequencing are live. Same rig as
// l2tp_lns_fuzz.cc (l2tp_rig.h), with the stage forced to "session up" and
// records limited to: 0 data message (fix-up flags as in the rig), 1 PPP
// frame for the session, 2 clock tick, 3 PPP endpoint action.
#include "l2tp_rig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  const uint8_t setup = uint8_t((in.Setup() & ~0x03) | 0x02);
  vpn::l2tp::fuzzing::Rig rig(setup);
  static constexpr uint8_t kKinds[] = {1, 2, 3, 6};  // the rig's record kinds
  vpn::fuzz::Record r;
  while (in.Next(&r)) {
    r.kind = kKinds[r.kind % 4];
    rig.Run(r);
  }
  rig.Finish();
  return 0;
}
