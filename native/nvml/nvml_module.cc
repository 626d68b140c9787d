#include "nvml/nvml_module.h"

namespace gpu_arbiter::nvml {
Napi::Object InitModule(Napi::Env env) { return Napi::Object::New(env); }
}  // namespace gpu_arbiter::nvml
