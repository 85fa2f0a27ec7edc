// The L2TP LNS (controlplane/l2tp lns*.cc, control_channel.cc) fed control
// messages, data messages, PPP frames, timer ticks and operator actions, on
// top of a tunnel and session our LAC may have brought up first. The rig,
// its input format and its end-of-run checks are in l2tp_rig.h.
#include "l2tp_rig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vpn::fuzz::QuietLogs();
  vpn::fuzz::RecordReader in({data, size});
  vpn::l2tp::fuzzing::Rig rig(in.Setup());
  vpn::fuzz::Record r;
  while (in.Next(&r)) rig.Run(r);
  rig.Finish();
  return 0;
}
