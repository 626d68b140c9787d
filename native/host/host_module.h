#pragma once
#include <napi.h>

namespace gpu_arbiter::host {
// Returns the `host` namespace object of the addon (host-wide ledger).
Napi::Object InitModule(Napi::Env env);
}  // namespace gpu_arbiter::host
