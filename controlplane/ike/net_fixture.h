// gtest-side companion of test_net.h (which the fuzz targets and the bench
// use without gtest): the fixture the exchange tests build on.
#pragma once

#include <memory>

#include "gtest/gtest.h"
#include "test_net.h"

namespace vpn::ike::testing {

// The in-process world the exchange tests start from: our responder on a Net
// with a manual clock; Connect adds one of our initiators and runs Main Mode
// (and, unless the options say otherwise, Quick Mode) to completion.
struct NetFixture {
  NetFixture(const config::Ike& server, const config::Ike& client, bool nat,
             bool server_nat = false, ResponderOptions ro = {})
      : client_cfg(client), net(std::make_unique<Net>(timers, server, nat, server_nat, ro)) {}
  Net::Client& Connect(InitiatorOptions o = {}) { return Connect(o, client_cfg); }
  Net::Client& Connect(InitiatorOptions o, const config::Ike& cfg) {
    Net::Client& c = net->AddClient(cfg, o);
    auto id = c.ike->Connect(c.local, net->server_ep);
    EXPECT_TRUE(id.ok()) << id.status();
    net->Pump();
    return c;
  }
  // Advances the clock in steps, delivering what each step sends.
  void Run(absl::Duration total, absl::Duration step = absl::Seconds(1)) {
    for (absl::Duration t; t < total; t += step) {
      timers.Advance(step);
      net->Pump();
    }
  }

  cp::ManualTimerQueue timers;
  config::Ike client_cfg;
  std::unique_ptr<Net> net;
};

}  // namespace vpn::ike::testing
