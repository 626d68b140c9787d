#include "nvml/sampler_wrap.h"

#include "common/coded_error.h"
#include "nvml/sample_js.h"

namespace gpu_arbiter::nvml {
namespace {
// How long env teardown waits for the sampler thread before leaving it to finish alone.
constexpr unsigned kTeardownWaitMs = 250;

using common::CodedJsError;
}  // namespace

Napi::Function SamplerWrap::Define(Napi::Env env) {
  return DefineClass(env, "Sampler",
                     {
                         InstanceMethod<&SamplerWrap::Start>("start"),
                         InstanceMethod<&SamplerWrap::Stop>("stop"),
                         InstanceMethod<&SamplerWrap::SampleNow>("sampleNow"),
                         InstanceMethod<&SamplerWrap::Seq>("seq"),
                         InstanceMethod<&SamplerWrap::Snapshot>("snapshot"),
                         InstanceMethod<&SamplerWrap::SetIntervalMs>("setIntervalMs"),
                     });
}

// new Sampler({ libraryPath?: string, intervalMs: number, onSample: (seq) => void }).
// JS validates; these checks only keep bad calls from crashing the process.
SamplerWrap::SamplerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplerWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw CodedJsError(env, "E_INVALID_ARGUMENT", "Sampler expects an options object");
  }
  auto opts = info[0].As<Napi::Object>();
  std::string path = "libnvidia-ml.so.1";
  if (opts.Has("libraryPath") && opts.Get("libraryPath").IsString()) {
    path = opts.Get("libraryPath").As<Napi::String>().Utf8Value();
  }
  auto interval = opts.Get("intervalMs");
  auto onSample = opts.Get("onSample");
  if (!interval.IsNumber() || !onSample.IsFunction()) {
    throw CodedJsError(env, "E_INVALID_ARGUMENT", "Sampler expects intervalMs (number) and onSample (function)");
  }
  int64_t ms = interval.As<Napi::Number>().Int64Value();
  if (ms < 1) ms = 1;
  core_ = std::make_shared<SamplerCore>(path, static_cast<unsigned>(ms));
  onSample_ = Napi::Persistent(onSample.As<Napi::Function>());
}

SamplerWrap::~SamplerWrap() {
  // A running sampler holds a strong reference to its JS object, so we only get here stopped
  // (or at env teardown, after EnvCleanup).
  if (core_) {
    core_->DetachNotifier();
    core_->RequestStop();
  }
}

Napi::Value SamplerWrap::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (running_) return env.Undefined();
  if (stopping_) throw CodedJsError(env, "E_CLOSED", "the sampler is stopping");
  tsfn_ = Tsfn::New(env, onSample_.Value(), "gpu-arbiter:nvml-sampler", 0, 1, this);
  tsfn_.Unref(env);  // periodic sampling alone must not keep the process alive
  // Registered after the TSFN's own hook, so it runs before it (hooks run in reverse): the
  // notifier is detached before Node frees the TSFN.
  cleanupHook_ = env.AddCleanupHook(&SamplerWrap::EnvCleanup, this);
  hasCleanupHook_ = true;
  Ref();
  running_ = true;
  Tsfn tsfn = tsfn_;
  SamplerCore::Start(core_, [tsfn](const Notice& n) mutable { tsfn.NonBlockingCall(new Notice(n)); });
  return env.Undefined();
}

Napi::Value SamplerWrap::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (!running_) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  pendingStops_.push_back(deferred);
  HoldLoop(true);
  stopping_ = true;
  core_->RequestStop();
  return deferred.Promise();
}

Napi::Value SamplerWrap::SampleNow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto deferred = Napi::Promise::Deferred::New(env);
  if (!running_ || stopping_) {
    deferred.Reject(CodedJsError(env, "E_CLOSED", "the sampler is not running").Value());
    return deferred.Promise();
  }
  uint64_t ticket = core_->RequestSample();
  pendingSamples_.emplace(ticket, deferred);
  HoldLoop(true);
  return deferred.Promise();
}

Napi::Value SamplerWrap::Seq(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(core_->Seq()));
}

Napi::Value SamplerWrap::Snapshot(const Napi::CallbackInfo& info) {
  auto snap = core_->Latest();  // brief lock; never waits on NVML
  return SnapshotToJs(info.Env(), *snap);
}

Napi::Value SamplerWrap::SetIntervalMs(const Napi::CallbackInfo& info) {
  if (info.Length() >= 1 && info[0].IsNumber()) {
    int64_t ms = info[0].As<Napi::Number>().Int64Value();
    core_->SetIntervalMs(static_cast<unsigned>(ms < 1 ? 1 : ms));
  }
  return info.Env().Undefined();
}

void SamplerWrap::CallJs(Napi::Env env, Napi::Function onSample, SamplerWrap* self, Notice* notice) {
  std::unique_ptr<Notice> owned(notice);
  if (env == nullptr || self == nullptr) return;  // TSFN is being torn down
  try {
    self->OnNotice(env, *owned, onSample);
  } catch (const Napi::Error&) {
    // Only reached while the environment is terminating (worker.terminate()): the JS side
    // catches its listeners' errors itself. Escaping this C callback would std::terminate.
  }
}

void SamplerWrap::OnNotice(Napi::Env env, const Notice& n, Napi::Function onSample) {
  if (n.stopped) {
    core_->JoinOrDetach(kTeardownWaitMs);  // the thread has finished its loop: joins at once
    Finish();
    for (auto& d : pendingSamples_) d.second.Reject(CodedJsError(env, "E_CLOSED", "the sampler stopped").Value());
    pendingSamples_.clear();
    auto stops = std::move(pendingStops_);
    pendingStops_.clear();
    for (auto& d : stops) d.Resolve(env.Undefined());
    return;
  }
  // Answer every sampleNow() whose ticket this pass covered, before user callbacks run.
  auto end = pendingSamples_.upper_bound(n.servedTicket);
  for (auto it = pendingSamples_.begin(); it != end; ++it) {
    it->second.Resolve(Napi::Number::New(env, static_cast<double>(n.seq)));
    HoldLoop(false);
  }
  pendingSamples_.erase(pendingSamples_.begin(), end);
  onSample.Call({Napi::Number::New(env, static_cast<double>(n.seq))});
}

void SamplerWrap::Finish() {
  Napi::Env env = Env();
  core_->DetachNotifier();
  if (hasCleanupHook_) {
    cleanupHook_.Remove(env);
    hasCleanupHook_ = false;
  }
  tsfn_.Release();
  running_ = false;
  stopping_ = false;
  loopHolds_ = 0;
  Unref();
}

void SamplerWrap::HoldLoop(bool hold) {
  Napi::Env env = Env();
  if (hold) {
    if (loopHolds_++ == 0) tsfn_.Ref(env);
  } else if (loopHolds_ > 0 && --loopHolds_ == 0) {
    tsfn_.Unref(env);
  }
}

// Env teardown (process exit or worker_thread exit) with the sampler still running.
void SamplerWrap::EnvCleanup(SamplerWrap* self) {
  self->hasCleanupHook_ = false;
  self->core_->DetachNotifier();  // after this the thread never touches the TSFN
  self->core_->RequestStop();
  self->core_->JoinOrDetach(kTeardownWaitMs);
  self->running_ = false;
}

}  // namespace gpu_arbiter::nvml
