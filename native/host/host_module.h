#pragma once
#include <napi.h>

namespace gpu_arbiter::host {
// JS thread, once per environment (main thread and each worker_thread): returns the `host`
// namespace object of the addon (host-wide ledger): the Ledger class, inspectNamespace,
// processStartTime, the status codes (`codes`) and the layout constants.
Napi::Object InitModule(Napi::Env env);
}  // namespace gpu_arbiter::host
