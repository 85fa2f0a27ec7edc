// Prometheus text exposition (format 0.0.4,
// https://prometheus.io/docs/instrumenting/exposition_formats/) of the
// concentrator: the dataplane's counters straight from shared memory (also
// used by vpnctl while the control plane is down) and the control plane's own
// gauges. Read-only: nothing here writes to the segment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vpn/shm_segment.h"

namespace vpn::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Builds one exposition. Every family is declared once (HELP and TYPE) and
// its samples follow it contiguously, as the format requires.
class Writer {
 public:
  enum class Type { kCounter, kGauge };
  // Starts a family; `name` must match [a-zA-Z_:][a-zA-Z0-9_:]* (counters end
  // in _total by convention).
  void Family(std::string_view name, Type type, std::string_view help);
  // A sample of the current family.
  void Sample(const Labels& labels, uint64_t value);
  void Sample(const Labels& labels, double value);
  const std::string& text() const { return out_; }

  // Label values escape backslash, double quote and newline; HELP text
  // escapes backslash and newline.
  static std::string EscapeLabel(std::string_view v);
  static std::string EscapeHelp(std::string_view v);

 private:
  void Line(const Labels& labels, const std::string& value);
  std::string out_;
  std::string family_;
};

// Dataplane families from the segment: vpn_dataplane_up, per worker
// packets/loops, vpn_dataplane_reason_total{worker,reason,severity} (every
// counter and drop reason of drop_reasons.def), per port packets/bytes/drops,
// SA and session table gauges and the sum of session bytes/packets.
// port_names[i] labels port i (its index when missing).
void AppendDataplane(const shm::Segment& seg, const std::vector<std::string>& port_names,
                     Writer* w);

}  // namespace vpn::metrics
