#include "crypto_adapter.h"

namespace vpn::dp {

// Both types are alignas(64); C++17 aligned new honours that, and neither is
// ever copied or moved after construction (esp.h).
std::shared_ptr<CryptoSa> MakeCryptoSa(const shm::SaRecord& rec, esp::InitResult* why) {
  auto* sa = new CryptoSa;
  *why = esp::InitSaContext(rec, &sa->ctx);
  auto release = [](CryptoSa* p) {
    esp::WipeSaContext(&p->ctx);
    delete p;
  };
  if (*why != esp::InitResult::kOk) {
    release(sa);
    return nullptr;
  }
  return std::shared_ptr<CryptoSa>(sa, release);
}

void CryptoEngineDeleter::operator()(CryptoEngine* e) const { delete e; }

CryptoEnginePtr MakeCryptoEngine() {
  CryptoEnginePtr e(new CryptoEngine);
  if (!e->engine.Init()) return nullptr;
  return e;
}

void DecryptBurst(CryptoEngine* e, esp::InboundJob* jobs, uint16_t n) {
  e->engine.DecryptBurst(jobs, n);
}
void EncryptBurst(CryptoEngine* e, esp::OutboundJob* jobs, uint16_t n) {
  e->engine.EncryptBurst(jobs, n);
}
esp::InboundSpans SubmitInbound(CryptoEngine* e) { return e->engine.SubmitInbound(); }
esp::InboundSpans DrainInbound(CryptoEngine* e) { return e->engine.DrainInbound(); }
esp::OutboundSpans SubmitOutbound(CryptoEngine* e, const esp::OutboundJob* jobs, uint16_t n) {
  return e->engine.SubmitOutbound(jobs, n);
}
esp::OutboundSpans DrainOutbound(CryptoEngine* e) { return e->engine.DrainOutbound(); }
uint32_t CryptoInFlight(const CryptoEngine* e) { return e ? e->engine.InFlight() : 0; }
bool CryptoAvailable() { return true; }
const char* CryptoInitError(esp::InitResult r) { return esp::InitResultName(r); }

}  // namespace vpn::dp
