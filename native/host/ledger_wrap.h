#pragma once
// LedgerWrap: the JS handle of one HostLedger (one per HostLedger.open(), per environment). It
// owns an `owner` id in the process's ProcessLedger and a ThreadSafeFunction through which the
// waiter thread hands grants to this environment's event loop.
//
// Threads: every method below runs on the JS thread of the environment that made the handle,
// except Deliver() (the waiter thread, see waiter_thread.cc). ProcessLedger failures
// (LedgerError) leave every method as coded JS Errors through common::WithCodedErrors.
#include <napi.h>

#include <memory>
#include <vector>

#include "common/coded_error.h"
#include "host/ledger.h"

namespace gpu_arbiter::host {

class LedgerWrap;
// JS thread (the TSFN's call_js): hands one grant to src/backends/host/ledger.ts's onGrant
// callback. env is null while the environment is being torn down.
void CallGrantJs(Napi::Env env, Napi::Function cb, LedgerWrap* self, GrantInfo* grant);
// JS thread: onGrant's arguments for one grant (request, slot, tokenHi, tokenLo, fence,
// lostReason, resource or -1, gang).
std::vector<napi_value> GrantArgs(Napi::Env env, const GrantInfo& grant);

class LedgerWrap : public Napi::ObjectWrap<LedgerWrap>, public GrantSink {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // JS thread.
  explicit LedgerWrap(const Napi::CallbackInfo& info);
  // JS thread (GC finalizer) or env teardown.
  ~LedgerWrap() override;

  // Waiter thread (sink table lock held): queues the grant for the JS thread.
  void Deliver(const GrantInfo& grant) override;
  // JS thread, from this environment's loop woken directly (direct_wake.h): calls onGrant now.
  void DeliverOnLoop(const GrantInfo& grant) override;
  const uv_loop_s* Loop() const override { return loop_; }

 private:
  using GrantFn = Napi::TypedThreadSafeFunction<LedgerWrap, GrantInfo, CallGrantJs>;
  using Method = Napi::Value (LedgerWrap::*)(const Napi::CallbackInfo&);

  // JS thread: what DefineClass registers in place of each method M, so no method needs its own
  // try/catch: M runs through common::WithCodedErrors.
  template <Method M>
  Napi::Value Coded(const Napi::CallbackInfo& info) {
    return common::WithCodedErrors(info.Env(), [&] { return (this->*M)(info); });
  }

  // All JS-thread methods.
  Napi::Value DefineResource(const Napi::CallbackInfo& info);
  Napi::Value FindResource(const Napi::CallbackInfo& info);
  Napi::Value SetResourceState(const Napi::CallbackInfo& info);
  Napi::Value Usage(const Napi::CallbackInfo& info);
  Napi::Value Acquire(const Napi::CallbackInfo& info);
  Napi::Value AcquireSet(const Napi::CallbackInfo& info);
  Napi::Value ReleaseSet(const Napi::CallbackInfo& info);
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Revoke(const Napi::CallbackInfo& info);
  Napi::Value Forget(const Napi::CallbackInfo& info);
  Napi::Value Inspect(const Napi::CallbackInfo& info);
  Napi::Value InspectResource(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value TestParkInLock(const Napi::CallbackInfo& info);
  Napi::Value TestInjectHolder(const Napi::CallbackInfo& info);

  // JS thread (or the env cleanup hook): stops deliveries, frees this handle's holds and
  // waiters, drops the process ledger reference. Idempotent.
  void CloseNative();
  // JS thread: the process ledger, or a coded E_CLOSED error after close().
  ProcessLedger& Ledger(const Napi::Env& env);

  std::shared_ptr<ProcessLedger> ledger_;
  uint32_t owner_ = 0;
  uint32_t thread_ = 0;
  bool closed_ = false;
  bool tsfn_live_ = false;
  bool direct_ = false;  // this environment's loop is woken directly (AttachLoop succeeded)
  uv_loop_s* loop_ = nullptr;  // this environment's loop
  GrantFn tsfn_;
  Napi::FunctionReference on_grant_;
  std::unique_ptr<Napi::AsyncContext> grant_context_;
  Napi::Reference<Napi::Float64Array> scratch_ref_;
  double* scratch_ = nullptr;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
};

// JS thread: the plain-object form of a ledger view (RawHostView in src/native/addon.ts).
Napi::Object ViewToJs(Napi::Env env, const LedgerView& view);

// JS thread: an array of uids (trustOwner) as a vector; anything else as an empty one.
std::vector<uid_t> TrustedUids(const Napi::Value& v);

// JS thread: the status codes the ledger's methods return, by name (host.codes; RawHostCodes in
// src/native/addon.ts). Frozen.
Napi::Object StatusCodes(Napi::Env env);

}  // namespace gpu_arbiter::host
