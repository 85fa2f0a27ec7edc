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
// Never called: without an engine no SA has a context, so nothing is staged.
esp::InboundSpans SubmitInbound(CryptoEngine*) { return {}; }
esp::InboundSpans DrainInbound(CryptoEngine*) { return {}; }
esp::OutboundSpans SubmitOutbound(CryptoEngine*, const esp::OutboundJob*, uint16_t) { return {}; }
esp::OutboundSpans DrainOutbound(CryptoEngine*) { return {}; }
uint32_t CryptoInFlight(const CryptoEngine*) { return 0; }
bool CryptoAvailable() { return false; }
const char* CryptoInitError(esp::InitResult) { return "ESP engine not built"; }

}  // namespace vpn::dp
