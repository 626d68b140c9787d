#include "host/host_module.h"

#include <unistd.h>

#include <cstddef>
#include <vector>

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

// JS thread: inspectNamespace(ns, trustOwner?) -> the same view as Ledger#inspect(), read without
// registering this process in the ledger (for `gpu-arbiter status`).
Napi::Value InspectNamespace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ns = info[0].As<Napi::String>().Utf8Value();
  std::vector<uid_t> trusted = TrustedUids(info[1]);
  return common::WithCodedErrors(env, [&] { return ViewToJs(env, ProcessLedger::Peek(ns, trusted)); });
}

// JS thread: wakeStats() -> how this process's grants reached JS and what reclaimed dead holders
// (WakeStats in native/host/ledger.h): tests assert which wake path ran by these counts.
Napi::Value WakeStatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const WakeStats s = ProcessLedger::Stats();
  Napi::Object o = Napi::Object::New(env);
  auto num = [&env](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
  o.Set("loopDeliveries", num(s.loop_deliveries));
  o.Set("threadDeliveries", num(s.thread_deliveries));
  o.Set("directSends", num(s.direct_sends));
  o.Set("futexWakes", num(s.futex_wakes));
  o.Set("watchReclaims", num(s.watch_reclaims));
  o.Set("pollSweeps", num(s.poll_sweeps));
  return o;
}

// JS thread: where each table of the ledger lies in the file, for tests that corrupt a copy on
// purpose (test/host-corrupt.test.ts): { tables: { name: [offset, bytes] }, ... }.
Napi::Object LayoutToJs(Napi::Env env) {
  auto pair = [&env](size_t offset, size_t bytes) {
    Napi::Array a = Napi::Array::New(env, 2);
    a.Set(0u, Napi::Number::New(env, static_cast<double>(offset)));
    a.Set(1u, Napi::Number::New(env, static_cast<double>(bytes)));
    return a;
  };
  Napi::Object tables = Napi::Object::New(env);
  tables.Set("resources", pair(offsetof(Header, resources), sizeof(Header::resources)));
  tables.Set("procs", pair(offsetof(Header, procs), sizeof(Header::procs)));
  tables.Set("holders", pair(offsetof(Header, holders), sizeof(Header::holders)));
  tables.Set("waiters", pair(offsetof(Header, waiters), sizeof(Header::waiters)));
  // The header's counters and scan bounds, after its lock.
  tables.Set("counters", pair(offsetof(Header, next_seq), offsetof(Header, resources) - offsetof(Header, next_seq)));
  Napi::Object out = Napi::Object::New(env);
  out.Set("tables", tables);
  out.Set("lock", Napi::Number::New(env, static_cast<double>(offsetof(Header, lock))));
  out.Set("holdersHwm", Napi::Number::New(env, static_cast<double>(offsetof(Header, holders_hwm))));
  out.Set("waitersHwm", Napi::Number::New(env, static_cast<double>(offsetof(Header, waiters_hwm))));
  // Bytes per slot of each table.
  Napi::Object slot = Napi::Object::New(env);
  slot.Set("resources", Napi::Number::New(env, static_cast<double>(sizeof(Resource))));
  slot.Set("procs", Napi::Number::New(env, static_cast<double>(sizeof(Proc))));
  slot.Set("holders", Napi::Number::New(env, static_cast<double>(sizeof(Holder))));
  slot.Set("waiters", Napi::Number::New(env, static_cast<double>(sizeof(Waiter))));
  out.Set("slotBytes", slot);
  return out;
}

}  // namespace

Napi::Object InitModule(Napi::Env env) {
  // JS thread, once per environment: each worker_thread gets its own class object; process-wide
  // state lives in ProcessLedger's guarded registry (see ledger.cc).
  Napi::Object host = Napi::Object::New(env);
  host.Set("Ledger", LedgerWrap::DefineClass(env));
  host.Set("inspectNamespace", Napi::Function::New(env, InspectNamespace, "inspectNamespace"));
  host.Set("processStartTime", Napi::Function::New(env, StartTimeOf, "processStartTime"));
  host.Set("wakeStats", Napi::Function::New(env, WakeStatsJs, "wakeStats"));
  host.Set("codes", StatusCodes(env));
  host.Set("layoutVersion", Napi::Number::New(env, kLayoutVersion));
  host.Set("ledgerBytes", Napi::Number::New(env, static_cast<double>(sizeof(Header))));
  host.Set("layout", LayoutToJs(env));
  return host;
}

}  // namespace gpu_arbiter::host
