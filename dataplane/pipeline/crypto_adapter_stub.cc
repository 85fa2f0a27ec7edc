// Used while dataplane/esp has no implementation yet: every SA is refused
// (its packets drop as esp_unknown_spi) and no engine exists.
#include "crypto_adapter.h"

namespace vpn::dp {

std::shared_ptr<CryptoSa> MakeCryptoSa(const shm::SaRecord&, esp::InitResult* why) {
  *why = esp::InitResult::kCryptoInitFailed;
  return nullptr;
}
void CryptoEngineDeleter::operator()(CryptoEngine*) const {}
CryptoEnginePtr MakeCryptoEngine() { return nullptr; }
void DecryptBurst(CryptoEngine*, esp::InboundJob* jobs, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
}
void EncryptBurst(CryptoEngine*, esp::OutboundJob* jobs, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) jobs[i].verdict = Reason::k_esp_crypto_error;
}
// No engine: every job comes back at once, refused.
uint16_t DecryptSubmit(CryptoEngine*, const esp::InboundJob* jobs, uint16_t n,
                       esp::InboundJob* done) {
  for (uint16_t i = 0; i < n; ++i) {
    done[i] = jobs[i];
    done[i].verdict = Reason::k_esp_crypto_error;
  }
  return n;
}
uint16_t EncryptSubmit(CryptoEngine*, const esp::OutboundJob* jobs, uint16_t n,
                       esp::OutboundJob* done) {
  for (uint16_t i = 0; i < n; ++i) {
    done[i] = jobs[i];
    done[i].verdict = Reason::k_esp_crypto_error;
  }
  return n;
}
// Never called: without an engine no SA has a context, so nothing is staged.
esp::InboundSpans SubmitInbound(CryptoEngine*) { return {}; }
esp::InboundSpans DrainInbound(CryptoEngine*) { return {}; }
esp::OutboundSpans SubmitOutbound(CryptoEngine*, const esp::OutboundJob*, uint16_t) { return {}; }
esp::OutboundSpans DrainOutbound(CryptoEngine*) { return {}; }
uint16_t DecryptDrain(CryptoEngine*, esp::InboundJob*) { return 0; }
uint16_t EncryptDrain(CryptoEngine*, esp::OutboundJob*) { return 0; }
uint32_t CryptoInFlight(const CryptoEngine*) { return 0; }
bool CryptoAvailable() { return false; }
const char* CryptoInitError(esp::InitResult) { return "ESP engine not built"; }

}  // namespace vpn::dp
