#pragma once
#include <napi.h>

namespace gpu_arbiter::nvml {
// JS thread, once per environment: returns the `nvml` namespace object of the addon (sampler
// class, error names).
Napi::Object InitModule(Napi::Env env);
}  // namespace gpu_arbiter::nvml
