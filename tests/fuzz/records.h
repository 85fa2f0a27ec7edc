// Input framing shared by the stateful fuzz targets: one setup byte, then a
// sequence of records
//
//   +------+--------+--------+----------------+
//   | kind | len hi | len lo | len data bytes |   (repeated)
//   +------+--------+--------+----------------+
//
// A record whose length runs past the input is cut at the end, so every
// byte string is a valid input and libFuzzer's mutations stay meaningful.
// The seed generator (seedgen.cc) writes inputs with RecordWriter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vpn::fuzz {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

struct Record {
  uint8_t kind = 0;
  ByteSpan data;
};

class RecordReader {
 public:
  explicit RecordReader(ByteSpan in) : in_(in) {}
  // The first byte of the input (0 when empty); records follow it.
  uint8_t Setup() {
    if (pos_ != 0 || in_.empty()) return 0;
    pos_ = 1;
    return in_[0];
  }
  bool Next(Record* r) {
    if (pos_ == 0 && !in_.empty()) pos_ = 1;  // Setup() not called: skip it
    if (in_.size() - pos_ < 3 || count_ >= kMaxRecords) return false;
    r->kind = in_[pos_];
    size_t len = size_t(in_[pos_ + 1]) << 8 | in_[pos_ + 2];
    pos_ += 3;
    len = std::min(len, in_.size() - pos_);
    r->data = in_.subspan(pos_, len);
    pos_ += len;
    ++count_;
    return true;
  }

  // Bounds the work one input can ask for.
  static constexpr int kMaxRecords = 64;

 private:
  ByteSpan in_;
  size_t pos_ = 0;
  int count_ = 0;
};

class RecordWriter {
 public:
  explicit RecordWriter(uint8_t setup) { out_.push_back(setup); }
  RecordWriter& Add(uint8_t kind, ByteSpan data) {
    const size_t n = std::min<size_t>(data.size(), 0xFFFF);
    out_.push_back(kind);
    out_.push_back(uint8_t(n >> 8));
    out_.push_back(uint8_t(n));
    out_.insert(out_.end(), data.begin(), data.begin() + n);
    return *this;
  }
  RecordWriter& Add(uint8_t kind, std::initializer_list<uint8_t> data) {
    return Add(kind, ByteSpan(data.begin(), data.size()));
  }
  const Bytes& bytes() const { return out_; }

 private:
  Bytes out_;
};

// Reads little pieces of a record's data without running past it.
class Cursor {
 public:
  explicit Cursor(ByteSpan d) : d_(d) {}
  uint8_t U8() { return pos_ < d_.size() ? d_[pos_++] : 0; }
  uint16_t U16() { return uint16_t(U8() << 8 | U8()); }
  uint32_t U32() { return uint32_t(U16()) << 16 | U16(); }
  ByteSpan Rest() {
    ByteSpan r = d_.subspan(std::min(pos_, d_.size()));
    pos_ = d_.size();
    return r;
  }
  size_t remaining() const { return d_.size() - std::min(pos_, d_.size()); }

 private:
  ByteSpan d_;
  size_t pos_ = 0;
};

}  // namespace vpn::fuzz
