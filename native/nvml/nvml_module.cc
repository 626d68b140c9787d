#include "nvml/nvml_module.h"

#include "nvml/nvml_errors.h"
#include "nvml/sampler_wrap.h"

namespace gpu_arbiter::nvml {

Napi::Object InitModule(Napi::Env env) {
  auto exports = Napi::Object::New(env);
  exports.Set("Sampler", SamplerWrap::Define(env));
  exports.Set("returnName", Napi::Function::New(env, [](const Napi::CallbackInfo& info) -> Napi::Value {
                if (info.Length() < 1 || !info[0].IsNumber()) {
                  throw Napi::TypeError::New(info.Env(), "returnName expects a number");
                }
                return Napi::String::New(info.Env(), ReturnName(info[0].As<Napi::Number>().Int32Value()));
              }));
  return exports;
}

}  // namespace gpu_arbiter::nvml
