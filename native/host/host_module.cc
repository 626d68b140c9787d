#include "host/host_module.h"

namespace gpu_arbiter::host {
Napi::Object InitModule(Napi::Env env) {
  // The host-wide ledger is not built yet (issue: host-wide mutexes and VRAM semaphores).
  return Napi::Object::New(env);
}
}  // namespace gpu_arbiter::host
