// The dataplane's view of the ESP engine (dataplane/esp/esp.h). Calls into
// the engine go through these functions so the pipeline also builds (with a
// stub that refuses every SA) while the engine implementation is absent.
#pragma once

#include <memory>

#include "esp.h"
#include "huge_arena.h"
#include "vpn/shm_abi.h"

namespace vpn::dp {

// An esp::SaContext in 64-byte aligned memory, never moved.
// Allocated from the huge-page arena (huge_arena.h).
class CryptoSa {
 public:
  esp::SaContext ctx;
  VPN_HUGE_ARENA_OPERATORS(CryptoSa)
};

class CryptoEngine {
 public:
  esp::Engine engine;
};

// Builds the context for an SA record on a non-worker thread. nullptr and
// *why set when the engine refuses it.
std::shared_ptr<CryptoSa> MakeCryptoSa(const shm::SaRecord& rec, esp::InitResult* why);
// Destroys through the adapter so the stub build never names ~Engine.
struct CryptoEngineDeleter {
  void operator()(CryptoEngine* e) const;
};
using CryptoEnginePtr = std::unique_ptr<CryptoEngine, CryptoEngineDeleter>;
// nullptr when the engine cannot start (then ESP is unavailable).
CryptoEnginePtr MakeCryptoEngine();
void DecryptBurst(CryptoEngine* e, esp::InboundJob* jobs, uint16_t n);
void EncryptBurst(CryptoEngine* e, esp::OutboundJob* jobs, uint16_t n);
// Streaming without copies (esp.h Engine::StageInbound etc.): the worker
// fills inbound jobs in the engine's ring and reads the results where they
// are (spans valid until the next stage/submit/drain of that direction).
// Only with an engine (e != nullptr).
inline esp::InboundJob* StageInbound(CryptoEngine* e) { return e->engine.StageInbound(); }
inline uint16_t StagedInbound(const CryptoEngine* e) { return e->engine.StagedInbound(); }
esp::InboundSpans SubmitInbound(CryptoEngine* e);
esp::InboundSpans DrainInbound(CryptoEngine* e);
// Outbound jobs are copied in (n <= esp::Engine::kMaxStaged), results
// read in place.
esp::OutboundSpans SubmitOutbound(CryptoEngine* e, const esp::OutboundJob* jobs, uint16_t n);
esp::OutboundSpans DrainOutbound(CryptoEngine* e);
// Jobs in flight in both directions (0 without an engine).
uint32_t CryptoInFlight(const CryptoEngine* e);
bool CryptoAvailable();
const char* CryptoInitError(esp::InitResult r);

}  // namespace vpn::dp
