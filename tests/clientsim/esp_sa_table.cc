#include "esp_sa_table.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace vpn::clientsim {
namespace {

// Fills one direction of the record the dataplane would read from shm.
absl::Status FillRecord(const cp::ChildSaInstall& sa, const cp::EspSaKeys& k, shm::SaDir dir,
                        shm::SaRecord* r) {
  if (k.cipher_key.size() > sizeof r->cipher_key || k.integ_key.size() > sizeof r->integ_key ||
      k.salt.size() > sizeof r->salt)
    return absl::InvalidArgumentError("ESP key longer than the SA record holds");
  r->state = shm::SlotState::kActive;
  r->dir = dir;
  r->cipher = sa.cipher;
  r->integ = sa.integ;
  r->spi = k.spi;
  r->cipher_key_len = uint8_t(k.cipher_key.size());
  r->integ_key_len = uint8_t(k.integ_key.size());
  r->encap = sa.encap;
  r->flags = sa.allow_weak ? shm::kSaFlagAllowWeak : 0;
  r->local_ip = sa.local_ip;
  r->peer_ip = sa.peer_ip;
  r->local_port = sa.local_port;
  r->peer_port = sa.peer_port;
  r->replay_window = dir == shm::SaDir::kInbound ? esp::kDefaultReplayWindow : 0;
  r->owner_cookie = sa.ike_sa_cookie;
  std::copy(k.cipher_key.begin(), k.cipher_key.end(), r->cipher_key);
  std::copy(k.integ_key.begin(), k.integ_key.end(), r->integ_key);
  std::copy(k.salt.begin(), k.salt.end(), r->salt);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<esp::SaContext>> MakeContext(const cp::ChildSaInstall& sa,
                                                             const cp::EspSaKeys& k,
                                                             shm::SaDir dir) {
  shm::SaRecord rec{};
  if (absl::Status s = FillRecord(sa, k, dir, &rec); !s.ok()) return s;
  auto ctx = std::make_unique<esp::SaContext>();  // alignas(64): aligned new
  esp::InitResult r = esp::InitSaContext(rec, ctx.get());
  std::memset(rec.cipher_key, 0, sizeof rec.cipher_key);
  std::memset(rec.integ_key, 0, sizeof rec.integ_key);
  if (r != esp::InitResult::kOk)
    return absl::InvalidArgumentError(absl::StrCat("ESP SA init: ", esp::InitResultName(r)));
  return ctx;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EspPair>> EspPair::Create(const cp::ChildSaInstall& sa) {
  std::unique_ptr<EspPair> p(new EspPair());
  p->install_ = sa;
  auto in = MakeContext(sa, sa.inbound, shm::SaDir::kInbound);
  if (!in.ok()) return in.status();
  auto out = MakeContext(sa, sa.outbound, shm::SaDir::kOutbound);
  if (!out.ok()) return out.status();
  p->in_ = *std::move(in);
  p->out_ = *std::move(out);
  return p;
}

EspPair::~EspPair() {
  if (in_) esp::WipeSaContext(in_.get());
  if (out_) esp::WipeSaContext(out_.get());
}

bool EspPair::Seal(esp::Engine& engine, ByteSpan payload, uint8_t next_header, Bytes* esp_out,
                   Reason* why) {
  const uint32_t head = esp::EspHeadroom(*out_);
  const uint32_t tail = esp::EspTailroom(*out_, uint32_t(payload.size()));
  esp_out->assign(head + payload.size() + tail, 0);
  std::copy(payload.begin(), payload.end(), esp_out->begin() + head);
  esp::OutboundJob job{};
  job.sa = out_.get();
  job.payload = esp_out->data() + head;
  job.payload_len = uint32_t(payload.size());
  job.headroom = uint16_t(head);
  job.tailroom = uint16_t(tail);
  job.next_header = next_header;
  engine.EncryptBurst(&job, 1);
  if (job.verdict != esp::kOk) {
    *why = job.verdict;
    return false;
  }
  // The engine writes SPI .. ICV starting at payload - headroom.
  if (job.esp != esp_out->data() || job.esp_len != esp_out->size()) {
    *why = Reason::k_esp_crypto_error;
    return false;
  }
  ++sealed_;
  return true;
}

bool EspPair::Open(esp::Engine& engine, ByteSpan esp_in, Bytes* payload, uint8_t* next_header,
                   Reason* why) {
  Bytes buf(esp_in.begin(), esp_in.end());  // decrypted in place
  esp::InboundJob job{};
  job.sa = in_.get();
  job.esp = buf.data();
  job.len = uint32_t(buf.size());
  engine.DecryptBurst(&job, 1);
  if (job.verdict != esp::kOk) {
    *why = job.verdict;
    return false;
  }
  payload->assign(job.payload, job.payload + job.payload_len);
  *next_header = job.next_header;
  ++opened_;
  return true;
}

EspSaTable::EspSaTable(uint64_t seed) : rng_(seed) {}

absl::StatusOr<uint32_t> EspSaTable::AllocateInboundSpi() {
  if (next_index_ > shm::kSpiIndexMask) return absl::ResourceExhaustedError("SPI space");
  const uint32_t index = next_index_++;
  // A non-zero 12-bit check part keeps the SPI above 255 (RFC 4303 2.1).
  const uint32_t check = 1 + uint32_t(rng_() % 0xFFF);
  const uint32_t spi = shm::MakeSpi(index, check);
  reserved_[index] = spi;
  return spi;
}

void EspSaTable::ReleaseInboundSpi(uint32_t spi) { reserved_.erase(shm::SpiIndex(spi)); }

// The SA pair for an install whose inbound SPI we allocated; the SPI stops
// being reserved only once the pair exists (a refused install keeps it).
absl::StatusOr<std::unique_ptr<EspPair>> EspSaTable::ClaimReserved(const cp::ChildSaInstall& sa) {
  auto r = reserved_.find(shm::SpiIndex(sa.inbound.spi));
  if (r == reserved_.end() || r->second != sa.inbound.spi)
    return absl::FailedPreconditionError("install of an SPI that was not allocated");
  auto pair = EspPair::Create(sa);
  if (!pair.ok()) return pair.status();
  reserved_.erase(r);
  return pair;
}

absl::StatusOr<cp::ChildSaHandle> EspSaTable::Install(const cp::ChildSaInstall& sa) {
  const uint32_t index = shm::SpiIndex(sa.inbound.spi);
  auto pair = ClaimReserved(sa);
  if (!pair.ok()) return pair.status();
  pairs_[index] = *std::move(pair);
  newest_index_ = index;
  // The outbound direction has no slot of its own here: name it by the
  // inbound index with the top bit set.
  return cp::ChildSaHandle{index, index | 0x80000000u};
}

absl::StatusOr<uint32_t> EspSaTable::InstallInbound(const cp::ChildSaInstall& sa) {
  const uint32_t index = shm::SpiIndex(sa.inbound.spi);
  auto pair = ClaimReserved(sa);
  if (!pair.ok()) return pair.status();
  inbound_only_[index] = *std::move(pair);
  return index;
}

absl::StatusOr<cp::ChildSaHandle> EspSaTable::CompleteOutbound(uint32_t inbound_index,
                                                               const cp::ChildSaInstall&) {
  auto it = inbound_only_.find(inbound_index);
  if (it == inbound_only_.end()) return absl::NotFoundError("no inbound-only ESP SA");
  pairs_[inbound_index] = std::move(it->second);
  inbound_only_.erase(it);
  newest_index_ = inbound_index;
  return cp::ChildSaHandle{inbound_index, inbound_index | 0x80000000u};
}

void EspSaTable::AbortInbound(uint32_t inbound_index) { inbound_only_.erase(inbound_index); }

absl::Status EspSaTable::Remove(const cp::ChildSaHandle& h) {
  if (!pairs_.erase(h.inbound_index)) return absl::NotFoundError("no such ESP SA");
  if (newest_index_ == h.inbound_index)
    newest_index_ = pairs_.empty() ? 0 : pairs_.rbegin()->first;
  return absl::OkStatus();
}

EspPair* EspSaTable::FindByInboundSpi(uint32_t spi) const {
  EspPair* p = FindByInboundIndex(shm::SpiIndex(spi));
  return p && p->inbound_spi() == spi ? p : nullptr;
}

EspPair* EspSaTable::FindByInboundIndex(uint32_t index) const {
  auto it = pairs_.find(index);
  return it == pairs_.end() ? nullptr : it->second.get();
}

EspPair* EspSaTable::newest() const { return FindByInboundIndex(newest_index_); }

}  // namespace vpn::clientsim
