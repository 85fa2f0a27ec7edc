// gtest base for tests of a whole in-process Daemon (daemon_test_rig.h): a
// daemon on tables for 64 clients under a segment name private to the test,
// started in SetUp, and everything it leaves behind removed in TearDown.
#pragma once

#include <memory>

#include "daemon_test_rig.h"
#include "gtest/gtest.h"

namespace vpn::cp {

class DaemonRigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DaemonProbe::Quiet();
    auto c = DaemonProbe::TestConfig(
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), 64);
    ASSERT_TRUE(c.ok()) << c.status();
    cfg_ = *c;
    DaemonProbe::Cleanup(cfg_);
    StartDaemon();
  }
  void TearDown() override {
    p_.reset();
    d_.reset();
    DaemonProbe::Cleanup(cfg_);
  }
  // A daemon on cfg_'s segment (adopting what a previous one left there).
  void StartDaemon() {
    d_ = std::make_unique<Daemon>(cfg_);
    absl::Status st = d_->Start();
    ASSERT_TRUE(st.ok()) << st;
    p_ = std::make_unique<DaemonProbe>(*d_);
  }

  config::Config cfg_;
  std::unique_ptr<Daemon> d_;
  std::unique_ptr<DaemonProbe> p_;
};

}  // namespace vpn::cp
