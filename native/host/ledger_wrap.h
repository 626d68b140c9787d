#pragma once
// LedgerWrap: the JS handle of one HostLedger (one per HostLedger.open(), per environment). It
// owns an `owner` id in the process's ProcessLedger and a ThreadSafeFunction through which the
// waiter thread hands grants to this environment's event loop.
#include <napi.h>

#include <memory>

#include "host/ledger.h"

namespace gpu_arbiter::host {

class LedgerWrap;
// JS thread (the TSFN's call_js): hands one grant to host-ledger.ts's onGrant callback. env is
// null while the environment is being torn down.
void CallGrantJs(Napi::Env env, Napi::Function cb, LedgerWrap* self, GrantInfo* grant);

class LedgerWrap : public Napi::ObjectWrap<LedgerWrap>, public GrantSink {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit LedgerWrap(const Napi::CallbackInfo& info);
  ~LedgerWrap() override;

  // Waiter thread (sink table lock held): queues the grant for the JS thread.
  void Deliver(const GrantInfo& grant) override;

 private:
  using GrantFn = Napi::TypedThreadSafeFunction<LedgerWrap, GrantInfo, CallGrantJs>;

  // All JS-thread methods.
  Napi::Value DefineResource(const Napi::CallbackInfo& info);
  Napi::Value FindResource(const Napi::CallbackInfo& info);
  Napi::Value SetResourceState(const Napi::CallbackInfo& info);
  Napi::Value Usage(const Napi::CallbackInfo& info);
  Napi::Value Acquire(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Revoke(const Napi::CallbackInfo& info);
  Napi::Value Forget(const Napi::CallbackInfo& info);
  Napi::Value Inspect(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value TestParkInLock(const Napi::CallbackInfo& info);
  Napi::Value TestInjectHolder(const Napi::CallbackInfo& info);

  // JS thread (or the env cleanup hook): stops deliveries, frees this handle's holds and
  // waiters, drops the process ledger reference. Idempotent.
  void CloseNative();
  ProcessLedger& Ledger(const Napi::Env& env);

  std::shared_ptr<ProcessLedger> ledger_;
  uint32_t owner_ = 0;
  uint32_t thread_ = 0;
  bool closed_ = false;
  bool tsfn_live_ = false;
  GrantFn tsfn_;
  Napi::Reference<Napi::Float64Array> scratch_ref_;
  double* scratch_ = nullptr;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
};

// JS thread: the plain-object form of a ledger view (RawHostView in src/native.ts).
Napi::Object ViewToJs(Napi::Env env, const LedgerView& view);

// Throws a JS Error whose `code` is a GpuArbiterError code (host-ledger.ts wraps it).
[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message);

}  // namespace gpu_arbiter::host
