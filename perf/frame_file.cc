#include "frame_file.h"

#include <cstdio>
#include <cstring>

namespace vpn::perf {

bool SaveFrames(const std::string& path, const Frames& f) {
  FILE* fp = std::fopen(path.c_str(), "wb");
  if (!fp) return false;
  bool ok = std::fwrite("VPNFRM1\n", 1, 8, fp) == 8;
  const uint32_t n = uint32_t(f.size());
  ok = ok && std::fwrite(&n, 4, 1, fp) == 1;
  for (const Frame& fr : f) {
    const uint16_t len = uint16_t(fr.size());
    ok = ok && std::fwrite(&len, 2, 1, fp) == 1 && std::fwrite(fr.data(), 1, len, fp) == len;
  }
  return std::fclose(fp) == 0 && ok;
}

bool LoadFrames(const std::string& path, Frames* f) {
  FILE* fp = std::fopen(path.c_str(), "rb");
  if (!fp) return false;
  char magic[8];
  uint32_t n = 0;
  bool ok = std::fread(magic, 1, 8, fp) == 8 && std::memcmp(magic, "VPNFRM1\n", 8) == 0 &&
            std::fread(&n, 4, 1, fp) == 1 && n > 0 && n <= (1u << 24);
  f->clear();
  for (uint32_t i = 0; ok && i < n; ++i) {
    uint16_t len = 0;
    ok = std::fread(&len, 2, 1, fp) == 1 && len > 0;
    if (!ok) break;
    Frame fr(len);
    ok = std::fread(fr.data(), 1, len, fp) == len;
    f->push_back(std::move(fr));
  }
  std::fclose(fp);
  return ok;
}

}  // namespace vpn::perf
