// Module init (JS thread, once per environment): exports only. Each area registers its own
// functions and classes; native/common/ holds what they share (coded errors, exported codes).
// Node-API addon instances are per environment (main thread and every worker_thread get their
// own), so nothing here is a process global.
#include <napi.h>

#include "host/host_module.h"
#include "nvml/nvml_module.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("nvml", gpu_arbiter::nvml::InitModule(env));
  exports.Set("host", gpu_arbiter::host::InitModule(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(gpu_arbiter, Init)
