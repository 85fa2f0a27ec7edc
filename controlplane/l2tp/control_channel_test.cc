// Reliable delivery (RFC 2661 section 5.8) of one ControlChannel against a
// hand-driven peer.
#include "control_channel.h"

#include <gtest/gtest.h>

#include <vector>

namespace vpn::l2tp {
namespace {

using Bytes = std::vector<uint8_t>;

class ChannelTest : public ::testing::Test {
 protected:
  ChannelTest() { Make(ChannelParams{}); }

  void Make(const ChannelParams& p) {
    channel_ = std::make_unique<ControlChannel>(
        timers_, p, counters_,
        ControlChannel::Hooks{
            [this](std::span<const uint8_t> m) {
              ControlMessage cm;
              ASSERT_EQ(ParseControlMessage(m, "", &cm), ParseStatus::kOk);
              sent_.push_back(Sent{timers_.Now(), cm});
            },
            [this](ControlMessage& m) {
              delivered_.push_back(m.header.ns);
              if (reply_) channel_->Send(0, AvpWriter(MessageType::kHello).Take());
            },
            [this] { gave_up_ = true; }});
    channel_->set_peer_tunnel_id(77);
  }

  // A HELLO from the peer with the given Ns/Nr.
  void PeerSends(uint16_t ns, uint16_t nr, bool zlb = false) {
    Bytes avps = zlb ? Bytes{} : AvpWriter(MessageType::kHello).Take();
    Bytes m = BuildControlMessage(5, 0, ns, nr, avps);
    ControlMessage cm;
    ASSERT_EQ(ParseControlMessage(m, "", &cm), ParseStatus::kOk);
    channel_->Receive(std::move(cm));
  }

  struct Sent {
    absl::Time at;
    ControlMessage m;
  };
  cp::ManualTimerQueue timers_;
  Counters counters_;
  std::unique_ptr<ControlChannel> channel_;
  std::vector<Sent> sent_;
  std::vector<uint16_t> delivered_;
  bool reply_ = false;
  bool gave_up_ = false;
};

TEST_F(ChannelTest, DeliversInOrderAndAcknowledgesWithZlb) {
  PeerSends(0, 0);
  ASSERT_EQ(delivered_, (std::vector<uint16_t>{0}));
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_TRUE(sent_[0].m.zlb);
  EXPECT_EQ(sent_[0].m.header.nr, 1);
  EXPECT_EQ(sent_[0].m.header.ns, 0);
  EXPECT_EQ(sent_[0].m.header.tunnel_id, 77);
  EXPECT_EQ(counters_[Counter::k_tx_zlb], 1u);
}

TEST_F(ChannelTest, AReplyCarriesTheAcknowledgementInsteadOfAZlb) {
  reply_ = true;
  PeerSends(0, 0);
  ASSERT_EQ(sent_.size(), 1u);
  EXPECT_FALSE(sent_[0].m.zlb);
  EXPECT_EQ(sent_[0].m.header.ns, 0);
  EXPECT_EQ(sent_[0].m.header.nr, 1);
}

TEST_F(ChannelTest, OutOfOrderMessagesWaitInsideTheWindow) {
  PeerSends(2, 0);
  PeerSends(1, 0);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_EQ(counters_[Counter::k_queued_out_of_order], 2u);
  EXPECT_TRUE(sent_.empty());  // nothing in order yet, nothing to acknowledge
  PeerSends(0, 0);
  EXPECT_EQ(delivered_, (std::vector<uint16_t>{0, 1, 2}));
  ASSERT_EQ(sent_.size(), 1u);  // one ZLB for the three
  EXPECT_EQ(sent_[0].m.header.nr, 3);
  // Beyond our window of 8: dropped, not queued.
  PeerSends(3 + 8, 0);
  EXPECT_EQ(counters_[Counter::k_drop_out_of_window], 1u);
  PeerSends(3 + 7, 0);
  EXPECT_EQ(counters_[Counter::k_queued_out_of_order], 3u);
}

TEST_F(ChannelTest, DuplicatesAreReacknowledged) {
  PeerSends(0, 0);
  PeerSends(0, 0);
  EXPECT_EQ(delivered_.size(), 1u);
  EXPECT_EQ(counters_[Counter::k_drop_duplicate], 1u);
  ASSERT_EQ(sent_.size(), 2u);
  EXPECT_TRUE(sent_[1].m.zlb);
  EXPECT_EQ(sent_[1].m.header.nr, 1);
}

TEST_F(ChannelTest, RespectsThePeersReceiveWindow) {
  channel_->set_peer_window(2);
  for (int i = 0; i < 5; ++i) channel_->Send(0, AvpWriter(MessageType::kHello).Take());
  EXPECT_EQ(sent_.size(), 2u);
  EXPECT_EQ(channel_->waiting(), 3u);
  PeerSends(0, 1, /*zlb=*/true);  // acknowledges Ns 0
  ASSERT_EQ(sent_.size(), 3u);
  EXPECT_EQ(sent_[2].m.header.ns, 2);
  PeerSends(0, 5, /*zlb=*/true);  // Nr beyond what was sent: refused
  EXPECT_EQ(counters_[Counter::k_drop_bad_nr], 1u);
  EXPECT_EQ(channel_->unacked(), 2u);
  PeerSends(0, 3, /*zlb=*/true);
  EXPECT_EQ(sent_.size(), 5u);
  EXPECT_EQ(channel_->unacked(), 2u);
  EXPECT_EQ(channel_->waiting(), 0u);
}

TEST_F(ChannelTest, RetransmitsWithBackoffThenGivesUp) {
  const absl::Time t0 = timers_.Now();
  channel_->Send(0, AvpWriter(MessageType::kHello).Take());
  timers_.Advance(absl::Seconds(3) + absl::Milliseconds(500));
  // The peer says something meanwhile: retransmissions carry the new Nr.
  PeerSends(0, 0);
  timers_.Advance(absl::Seconds(40));
  std::vector<double> at;
  for (const Sent& s : sent_)
    if (!s.m.zlb) {
      at.push_back(absl::ToDoubleSeconds(s.at - t0));
      EXPECT_EQ(s.m.header.ns, 0);
      EXPECT_EQ(s.m.header.nr, s.at > t0 + absl::Seconds(4) ? 1 : 0);
    }
  EXPECT_EQ(at, (std::vector<double>{0, 1, 3, 7, 15, 23}));
  EXPECT_TRUE(gave_up_);
  EXPECT_TRUE(channel_->stopped());
  EXPECT_EQ(counters_[Counter::k_retransmits], 5u);
}

TEST_F(ChannelTest, AnAcknowledgementResetsTheBackoff) {
  ChannelParams p;
  p.max_retransmits = 2;
  Make(p);
  channel_->Send(0, AvpWriter(MessageType::kHello).Take());
  timers_.Advance(absl::Seconds(2));  // retransmitted at 1 s
  PeerSends(0, 1, true);
  channel_->Send(0, AvpWriter(MessageType::kHello).Take());
  timers_.Advance(absl::Seconds(6));  // backoff restarted at 1 s: 3 and 5 s
  EXPECT_FALSE(gave_up_);
  timers_.Advance(absl::Seconds(2));  // then 4 s more: give up at 9 s
  EXPECT_TRUE(gave_up_);
}

TEST_F(ChannelTest, WrapsAroundTheSequenceSpace) {
  for (int i = 0; i < 70000; ++i) {
    PeerSends(uint16_t(i), 0);
    ASSERT_EQ(delivered_.size(), size_t(i) + 1);
  }
  EXPECT_EQ(channel_->expected_ns(), uint16_t(70000));
  PeerSends(uint16_t(69999), 0);  // an old one after the wrap
  EXPECT_EQ(counters_[Counter::k_drop_duplicate], 1u);
}

}  // namespace
}  // namespace vpn::l2tp
