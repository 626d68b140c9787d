#include "host/host_module.h"

#include <unistd.h>

#include "common/coded_error.h"
#include "host/ledger_layout.h"
#include "host/ledger_wrap.h"
#include "host/liveness.h"

namespace gpu_arbiter::host {

namespace {

// JS thread: processStartTime(pid) -> /proc/<pid>/stat field 22, 0 if no such process. Used by
// tests (pid-reuse) and by `status` to show liveness.
Napi::Value StartTimeOf(const Napi::CallbackInfo& info) {
  double pid = info[0].As<Napi::Number>().DoubleValue();
  return Napi::Number::New(info.Env(), static_cast<double>(ProcessStartTime(static_cast<pid_t>(pid))));
}

// JS thread: inspectNamespace(ns) -> the same view as Ledger#inspect(), read without registering
// this process in the ledger (for `gpu-arbiter status`).
Napi::Value InspectNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns = info[0].As<Napi::String>().Utf8Value();
  return common::WithCodedErrors(env, [&] { return ViewToJs(env, ProcessLedger::Peek(ns)); });
}

}  // namespace

Napi::Object InitModule(Napi::Env env) {
  // JS thread, once per environment: each worker_thread gets its own class object; process-wide
  // state lives in ProcessLedger's guarded registry (see ledger.cc).
  Napi::Object host = Napi::Object::New(env);
  host.Set("Ledger", LedgerWrap::DefineClass(env));
  host.Set("inspectNamespace", Napi::Function::New(env, InspectNamespace, "inspectNamespace"));
  host.Set("processStartTime", Napi::Function::New(env, StartTimeOf, "processStartTime"));
  host.Set("codes", StatusCodes(env));
  host.Set("layoutVersion", Napi::Number::New(env, kLayoutVersion));
  host.Set("ledgerBytes", Napi::Number::New(env, static_cast<double>(sizeof(Header))));
  return host;
}

}  // namespace gpu_arbiter::host
