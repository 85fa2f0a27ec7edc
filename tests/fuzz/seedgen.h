// Seed corpora for the fuzz targets, generated from in-process exchanges
// (our initiator/LAC/client against our responder/LNS/server) so that the
// seeds are real protocol messages in the records format (records.h) each
// target expects. Run: fuzz_seedgen OUTDIR  (writes OUTDIR/<target>/<name>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "records.h"

namespace vpn::fuzz::seedgen {

class Sink {
 public:
  explicit Sink(std::filesystem::path root) : root_(std::move(root)) {}
  void Write(const std::string& target, const std::string& name, ByteSpan data) {
    std::filesystem::create_directories(root_ / target);
    std::ofstream f(root_ / target / name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
    ++count_;
  }
  void Write(const std::string& target, const std::string& name, const RecordWriter& w) {
    Write(target, name, w.bytes());
  }
  // A selector byte followed by `body` (the stateless targets' format).
  void WriteSel(const std::string& target, const std::string& name, uint8_t sel, ByteSpan body) {
    Bytes b{sel};
    b.insert(b.end(), body.begin(), body.end());
    Write(target, name, b);
  }
  int count() const { return count_; }

 private:
  std::filesystem::path root_;
  int count_ = 0;
};

void IkeSeeds(Sink& s);
void L2tpSeeds(Sink& s);
void PppSeeds(Sink& s);
void ConfigSeeds(Sink& s, const std::filesystem::path& config_dir);
void EspSeeds(Sink& s);
void PipelineSeeds(Sink& s);

inline Bytes Be16(uint16_t v) { return {uint8_t(v >> 8), uint8_t(v)}; }
inline Bytes Be32(uint32_t v) {
  return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
}
inline Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace vpn::fuzz::seedgen
