// The exposition text: exact sample values from a segment we fill, format
// rules a scraper enforces (one HELP/TYPE per family, samples contiguous and
// after it, names and labels well-formed, escaping).
#include "metrics.h"

#include <unistd.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vpn/reasons.h"

namespace vpn::metrics {
namespace {

using ::testing::HasSubstr;

// A strict reader of the 0.0.4 text format, independent of Writer: returns
// "" or the first problem found.
std::string CheckExposition(const std::string& text, std::map<std::string, std::string>* samples) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)\})? ([0-9.eE+-]+|NaN|\+Inf|-Inf))");
  std::set<std::string> done;
  std::string family, typed;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      if (done.count(m[1])) return "family declared twice: " + line;
      if (!family.empty()) done.insert(family);
      family = m[1];
      typed.clear();
    } else if (std::regex_match(line, m, kType)) {
      if (m[1] != family || !typed.empty()) return "TYPE without its HELP: " + line;
      typed = m[2];
    } else if (std::regex_match(line, m, kSample)) {
      if (m[1] != family || typed.empty()) return "sample outside its family: " + line;
      const std::string key = line.substr(0, line.rfind(' '));
      if (samples->count(key)) return "duplicate series: " + line;
      (*samples)[key] = line.substr(line.rfind(' ') + 1);
      if (typed == "counter" && family.size() > 6 && family.substr(family.size() - 6) != "_total")
        return "counter without _total: " + family;
    } else {
      return "line " + std::to_string(n) + " malformed: " + line;
    }
  }
  if (text.empty() || text.back() != '\n') return "must end with a newline";
  return "";
}

TEST(MetricsWriter, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(Writer::EscapeLabel("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(Writer::EscapeHelp("x\\y\nz\""), "x\\\\y\\nz\"");
  Writer w;
  w.Family("vpn_t_total", Writer::Type::kCounter, "help \\ line\nbreak");
  w.Sample({{"user", "al\"ice\\"}}, uint64_t(3));
  w.Sample({}, 0.5);
  EXPECT_EQ(w.text(),
            "# HELP vpn_t_total help \\\\ line\\nbreak\n# TYPE vpn_t_total counter\n"
            "vpn_t_total{user=\"al\\\"ice\\\\\"} 3\nvpn_t_total 0.5\n");
  std::map<std::string, std::string> s;
  EXPECT_EQ(CheckExposition(w.text(), &s), "");
}

TEST(MetricsWriter, StrictReaderRejectsBrokenText) {
  std::map<std::string, std::string> s;
  EXPECT_NE(CheckExposition("vpn_x 1\n", &s), "");  // no TYPE
  s.clear();
  EXPECT_NE(CheckExposition("# HELP a h\n# TYPE a gauge\na{b=\"1} 2\n", &s), "");
  s.clear();
  EXPECT_NE(CheckExposition("# HELP a h\n# TYPE a gauge\na 1\na 2\n", &s), "");
  s.clear();
  EXPECT_NE(CheckExposition("# HELP a h\n# TYPE a gauge\n# HELP b h\n# TYPE b gauge\n"
                            "# HELP a h\n# TYPE a gauge\n", &s), "");
}

class SegmentMetrics : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/vpn-test-metrics-" + std::to_string(getpid());
    shm::Segment::Unlink(name_);
    auto seg = shm::Segment::OpenOrCreate(name_, {.max_sas = 16, .max_sessions = 8, .n_workers = 3});
    ASSERT_TRUE(seg.ok()) << seg.status();
    seg_ = std::move(*seg);
  }
  void TearDown() override { shm::Segment::Unlink(name_); }
  std::string name_;
  shm::Segment seg_;
};

TEST_F(SegmentMetrics, CountersSummedAndLabelledFromTheSegment) {
  shm::Header& h = seg_.header();
  h.n_workers = 3;  // two workers + housekeeping
  h.dp_pid.store(1234);
  h.dp_ready.store(1);
  const uint32_t icv = static_cast<uint32_t>(Reason::k_esp_bad_icv);
  seg_.worker_counters(0).reason[icv] = 7;
  seg_.worker_counters(1).reason[icv] = 5;
  seg_.worker_counters(2).rx_packets = 11;
  seg_.worker_counters(0).ports[1].rx_packets = 4;
  seg_.worker_counters(1).ports[1].rx_packets = 6;
  seg_.worker_counters(1).ports[0].tx_bytes = 1500;
  shm::SaRecord& sa = seg_.sa(3);
  sa.state = shm::SlotState::kActive;
  sa.dir = shm::SaDir::kInbound;
  sa.cipher = shm::Cipher::kAesCbc;
  seg_.sa_counters(0)[3].packets = 9;
  seg_.sa_counters(1)[3].packets = 1;
  seg_.session(2).state = shm::SlotState::kActive;
  seg_.session(5).state = shm::SlotState::kFreePending;

  Writer w;
  AppendDataplane(seg_, {"wan", "lan"}, &w);
  std::map<std::string, std::string> s;
  ASSERT_EQ(CheckExposition(w.text(), &s), "") << w.text();
  EXPECT_EQ(s["vpn_dataplane_up"], "1");
  EXPECT_EQ(s["vpn_dataplane_reason_total{reason=\"esp_bad_icv\",severity=\"drop\",worker=\"0\"}"], "7");
  EXPECT_EQ(s["vpn_dataplane_reason_total{reason=\"esp_bad_icv\",severity=\"drop\",worker=\"1\"}"], "5");
  EXPECT_EQ(s["vpn_dataplane_reason_total{reason=\"esp_bad_icv\",severity=\"drop\",worker=\"housekeeping\"}"], "0");
  EXPECT_EQ(s["vpn_worker_rx_packets_total{worker=\"housekeeping\"}"], "11");
  EXPECT_EQ(s["vpn_port_rx_packets_total{port=\"lan\"}"], "10");
  EXPECT_EQ(s["vpn_port_tx_bytes_total{port=\"wan\"}"], "1500");
  EXPECT_EQ(s.count("vpn_port_rx_packets_total{port=\"2\"}"), 0u);  // only configured ports
  EXPECT_EQ(s["vpn_esp_sas{direction=\"in\",cipher=\"aes-cbc\"}"], "1");
  EXPECT_EQ(s["vpn_esp_sas{direction=\"out\",cipher=\"aes-cbc\"}"], "0");
  EXPECT_EQ(s["vpn_esp_live_sa_packets{direction=\"in\"}"], "10");
  EXPECT_EQ(s["vpn_dataplane_sessions"], "1");
  // Every reason of drop_reasons.def, for every counter block.
  size_t reasons = 0;
  for (const auto& [k, v] : s) reasons += k.rfind("vpn_dataplane_reason_total{", 0) == 0;
  EXPECT_EQ(reasons, kReasonCount * 3);

  h.dp_ready.store(0);
  Writer w2;
  AppendDataplane(seg_, {}, &w2);  // no config: ports by index
  s.clear();
  ASSERT_EQ(CheckExposition(w2.text(), &s), "");
  EXPECT_EQ(s["vpn_dataplane_up"], "0");
  EXPECT_EQ(s["vpn_port_rx_packets_total{port=\"1\"}"], "10");
}

}  // namespace
}  // namespace vpn::metrics
