#include "fragments.h"

#include <algorithm>

namespace vpn::ike {

absl::StatusOr<Fragment> ParseFragment(ByteSpan datagram) {
  auto h = ParseHeader(datagram);
  if (!h.ok()) return h.status();
  if (h->next != PayloadType::kFragment) return absl::InvalidArgumentError("not a fragment");
  Reader r(datagram.subspan(kHeaderSize));
  Fragment f;
  f.hdr = *h;
  uint8_t next, reserved, flags;
  uint16_t len;
  ByteSpan data;
  if (!r.U8(&next) || !r.U8(&reserved) || !r.U16(&len) || len < kFragmentHeaderSize ||
      !r.U16(&f.id) || !r.U8(&f.number) || !r.U8(&flags) ||
      !r.Take(len - kFragmentHeaderSize, &data))
    return absl::OutOfRangeError("fragment payload length");
  // The fragment payload is the only one (strongSwan and Windows send
  // exactly this); anything after it is ignored like ISAKMP padding.
  if (next != 0) return absl::InvalidArgumentError("payload after the fragment");
  if (f.number == 0) return absl::InvalidArgumentError("fragment number 0");
  if (data.empty()) return absl::InvalidArgumentError("empty fragment");
  f.last = flags & kFragmentLast;
  f.data.assign(data.begin(), data.end());
  return f;
}

std::vector<Bytes> FragmentMessage(ByteSpan msg, size_t max_isakmp, uint16_t fragment_id) {
  std::vector<Bytes> out;
  auto h = ParseHeader(msg);
  if (!h.ok() || max_isakmp <= kHeaderSize + kFragmentHeaderSize) return out;
  const size_t per = max_isakmp - kHeaderSize - kFragmentHeaderSize;
  const size_t count = (msg.size() + per - 1) / per;
  if (count == 0 || count > 255) return out;
  for (size_t i = 0; i < count; ++i) {
    ByteSpan slice = msg.subspan(i * per, std::min(per, msg.size() - i * per));
    Header fh = *h;
    fh.next = PayloadType::kFragment;
    fh.flags = 0;  // the slices carry the original's encryption
    fh.length = static_cast<uint32_t>(kHeaderSize + kFragmentHeaderSize + slice.size());
    Bytes d;
    d.reserve(fh.length);
    EncodeHeader(fh, d);
    PutU8(d, 0);
    PutU8(d, 0);
    PutU16(d, static_cast<uint16_t>(kFragmentHeaderSize + slice.size()));
    PutU16(d, fragment_id);
    PutU8(d, static_cast<uint8_t>(i + 1));
    PutU8(d, i + 1 == count ? kFragmentLast : 0);
    Append(d, slice);
    out.push_back(std::move(d));
  }
  return out;
}

void Reassembler::Erase(std::map<Key, Partial>::iterator it) {
  bytes_ -= it->second.bytes;
  auto ip = per_ip_.find(it->first.ip);
  if (ip != per_ip_.end() && --ip->second == 0) per_ip_.erase(ip);
  pending_.erase(it);
}

size_t Reassembler::Expire(absl::Time now) {
  size_t n = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (now - it->second.first_seen >= limits_.timeout) {
      Erase(it);
      ++n;
    }
    it = next;
  }
  return n;
}

Reassembler::Outcome Reassembler::Add(const Endpoint& remote, const Fragment& f, absl::Time now,
                                      Bytes* out) {
  Expire(now);
  if (f.number == 0 || f.number > limits_.max_fragments || f.data.empty() ||
      f.data.size() > limits_.max_message)
    return Outcome::kDropped;
  Key key{remote.ip, remote.port, f.hdr.icookie, f.hdr.rcookie, f.id};
  auto it = pending_.find(key);
  if (it == pending_.end()) {
    auto ip = per_ip_.find(remote.ip);
    if (pending_.size() >= limits_.max_pending ||
        (ip != per_ip_.end() && ip->second >= limits_.max_pending_per_ip))
      return Outcome::kDropped;
    it = pending_.emplace(key, Partial{now, {}, 0, 0}).first;
    ++per_ip_[remote.ip];
  }
  Partial& p = it->second;
  if (p.parts.count(f.number)) return Outcome::kDuplicate;
  // Inconsistent: a second "last", or fragments beyond the last one.
  const bool bad_last = f.last && ((p.last && p.last != f.number) ||
                                   (!p.parts.empty() && p.parts.rbegin()->first > f.number));
  if (bad_last || (p.last && f.number > p.last) || p.bytes + f.data.size() > limits_.max_message ||
      bytes_ + f.data.size() > limits_.max_bytes) {
    Erase(it);
    return Outcome::kDropped;
  }
  p.parts.emplace(f.number, f.data);
  p.bytes += f.data.size();
  bytes_ += f.data.size();
  if (f.last) p.last = f.number;
  if (!p.last || p.parts.size() != p.last) return Outcome::kIncomplete;
  out->clear();
  out->reserve(p.bytes);
  for (const auto& [n, d] : p.parts) Append(*out, d);
  Erase(it);
  return Outcome::kComplete;
}

}  // namespace vpn::ike
