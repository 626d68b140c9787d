#pragma once
// JS class `nvml.Sampler`: the JS face of one SamplerCore. Every method runs on the JS thread
// of the environment that created it; the core's thread reaches JS only through a
// ThreadSafeFunction (never a libuv threadpool thread, so sampling never starves fs/dns/zlib).
#include <napi.h>

#include <map>
#include <memory>
#include <vector>

#include "nvml/sampler_core.h"

namespace gpu_arbiter::nvml {

class SamplerWrap : public Napi::ObjectWrap<SamplerWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit SamplerWrap(const Napi::CallbackInfo& info);
  ~SamplerWrap() override;

 private:
  static void CallJs(Napi::Env env, Napi::Function onSample, SamplerWrap* self, Notice* notice);
  using Tsfn = Napi::TypedThreadSafeFunction<SamplerWrap, Notice, CallJs>;

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value SampleNow(const Napi::CallbackInfo& info);
  Napi::Value Seq(const Napi::CallbackInfo& info);
  Napi::Value Snapshot(const Napi::CallbackInfo& info);
  Napi::Value SetIntervalMs(const Napi::CallbackInfo& info);

  void OnNotice(Napi::Env env, const Notice& n, Napi::Function onSample);
  void Finish();                    // after the thread stopped: release TSFN, hook, self-ref
  void HoldLoop(bool hold);         // keep the event loop alive while a promise is pending
  static void EnvCleanup(SamplerWrap* self);

  std::shared_ptr<SamplerCore> core_;
  Napi::FunctionReference onSample_;
  Tsfn tsfn_;
  bool running_ = false;
  bool stopping_ = false;
  unsigned loopHolds_ = 0;
  std::map<uint64_t, Napi::Promise::Deferred> pendingSamples_;
  std::vector<Napi::Promise::Deferred> pendingStops_;
  Napi::Env::CleanupHook<void (*)(SamplerWrap*), SamplerWrap> cleanupHook_;
  bool hasCleanupHook_ = false;
};

}  // namespace gpu_arbiter::nvml
