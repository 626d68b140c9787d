#include "host/ledger_wrap.h"

#include <grp.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "host/liveness.h"

namespace gpu_arbiter::host {

using common::ThrowCoded;
using common::WithCodedErrors;

namespace {

// Scratch layout shared with src/backends/host/ledger.ts (a Float64Array it passes at
// construction), so the hot path returns one number and allocates no result object.
// usage() reuses it: [capacity, external, used, closed, waiting, headPriority or NaN].
enum Scratch { kSlot = 0, kTokenHi = 1, kTokenLo = 2, kFence = 3, kRequest = 4, kScratchLen = 6 };

template <typename Status>
Napi::Number Code(Napi::Env env, Status s) {
  return Napi::Number::New(env, static_cast<int>(s));
}

uint64_t U64(const Napi::Value& v) {
  double d = v.As<Napi::Number>().DoubleValue();
  return d <= 0 ? 0 : static_cast<uint64_t>(d);
}

uint64_t Token(const Napi::Value& hi, const Napi::Value& lo) {
  return (static_cast<uint64_t>(hi.As<Napi::Number>().Uint32Value()) << 32) | lo.As<Napi::Number>().Uint32Value();
}

// JS thread: the access options of new Ledger({ mode, group, trustOwner }) (validated by
// src/backends/host/options.ts; a group may be a gid or a name, resolved here).
AccessOptions AccessFrom(Napi::Env env, const Napi::Object& opts) {
  AccessOptions access;
  Napi::Value mode = opts.Get("mode");
  if (mode.IsNumber()) access.mode = static_cast<mode_t>(mode.As<Napi::Number>().Uint32Value());
  Napi::Value group = opts.Get("group");
  if (group.IsNumber()) {
    access.group = static_cast<gid_t>(group.As<Napi::Number>().Uint32Value());
  } else if (group.IsString()) {
    std::string name = group.As<Napi::String>().Utf8Value();
    struct group gr;
    struct group* found = nullptr;
    std::vector<char> buf(16384);
    if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      ThrowCoded(env, "E_INVALID_ARGUMENT",
                 "Expected the name of a group of this host for options.group but received " + name);
    }
    access.group = found->gr_gid;
  }
  access.trusted = TrustedUids(opts.Get("trustOwner"));
  return access;
}

}  // namespace

// JS thread.
std::vector<uid_t> TrustedUids(const Napi::Value& v) {
  std::vector<uid_t> out;
  if (!v.IsArray()) return out;
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    out.push_back(static_cast<uid_t>(a.Get(i).As<Napi::Number>().Uint32Value()));
  }
  return out;
}

// JS thread.
Napi::Object StatusCodes(Napi::Env env) {
  using common::FrozenCodes;
  auto n = [](auto s) { return static_cast<int>(s); };
  Napi::Object codes = Napi::Object::New(env);
  codes.Set("acquire", FrozenCodes(env, {
                                            {"GRANTED", n(AcquireStatus::kGranted)},
                                            {"QUEUED", n(AcquireStatus::kQueued)},
                                            {"BUSY", n(AcquireStatus::kBusy)},
                                            {"DOES_NOT_FIT", n(AcquireStatus::kDoesNotFit)},
                                            {"TABLE_FULL", n(AcquireStatus::kTableFull)},
                                            {"UNKNOWN_RESOURCE", n(AcquireStatus::kUnknownResource)},
                                        }));
  codes.Set("cancel", FrozenCodes(env, {
                                           {"REMOVED", n(CancelStatus::kRemoved)},
                                           {"RELEASED_GRANT", n(CancelStatus::kReleasedGrant)},
                                           {"NOT_FOUND", n(CancelStatus::kNotFound)},
                                       }));
  codes.Set("release", FrozenCodes(env, {
                                            {"RELEASED", n(ReleaseStatus::kReleased)},
                                            {"WAS_REVOKED", n(ReleaseStatus::kWasRevoked)},
                                            {"NOT_OWNER", n(ReleaseStatus::kNotOwner)},
                                            {"WAS_EXPIRED", n(ReleaseStatus::kWasExpired)},
                                        }));
  codes.Set("lostReason", FrozenCodes(env, {
                                               {"revoked", n(kLostRevoked)},
                                               {"expired", n(kLostExpired)},
                                               {"holder-dead", n(kLostHolderDead)},
                                               {"backend-closed", n(kLostBackendClosed)},
                                           }));
  codes.Freeze();
  return codes;
}

Napi::Function LedgerWrap::DefineClass(Napi::Env env) {
  return Napi::ObjectWrap<LedgerWrap>::DefineClass(
      env, "Ledger",
      {
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::DefineResource>>("defineResource"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::FindResource>>("findResource"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::SetResourceState>>("setResourceState"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Usage>>("usage"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Acquire>>("acquire"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::AcquireSet>>("acquireSet"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::ReleaseSet>>("releaseSet"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Cancel>>("cancel"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Release>>("release"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Revoke>>("revoke"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Forget>>("forget"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::Inspect>>("inspect"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::InspectResource>>("inspectResource"),
          InstanceMethod<&LedgerWrap::Close>("close"),
          InstanceMethod<&LedgerWrap::Ref>("ref"),
          InstanceMethod<&LedgerWrap::Unref>("unref"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::TestParkInLock>>("testParkInLock"),
          InstanceMethod<&LedgerWrap::Coded<&LedgerWrap::TestInjectHolder>>("testInjectHolder"),
      });
}

// JS thread: new Ledger({ namespace, threadId, onGrant, scratch, create, mode, group, trustOwner }).
LedgerWrap::LedgerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LedgerWrap>(info) {
  Napi::Env env = info.Env();
  Napi::Object opts = info[0].As<Napi::Object>();
  std::string ns = opts.Get("namespace").As<Napi::String>().Utf8Value();
  thread_ = opts.Get("threadId").As<Napi::Number>().Uint32Value();
  Napi::Function on_grant = opts.Get("onGrant").As<Napi::Function>();
  Napi::Float64Array scratch = opts.Get("scratch").As<Napi::Float64Array>();
  if (scratch.ElementLength() < kScratchLen) ThrowCoded(env, "E_INVALID_ARGUMENT", "scratch too small");
  scratch_ref_ = Napi::Persistent(scratch);
  scratch_ = scratch.Data();
  Napi::Value create = opts.Get("create");
  AccessOptions access = AccessFrom(env, opts);
  WithCodedErrors(env, [&] {
    ledger_ = ProcessLedger::Open(ns, !create.IsBoolean() || create.As<Napi::Boolean>().Value(), access);
  });
  tsfn_ = GrantFn::New(env, on_grant, "gpu-arbiter:host-grant", 0, 1, this);
  tsfn_live_ = true;
  tsfn_.Unref(env);  // src/backends/host/ledger.ts refs it while it has waiters
  on_grant_ = Napi::Persistent(on_grant);
  grant_context_ = std::make_unique<Napi::AsyncContext>(env, "gpu-arbiter:host-grant");
  // Set before AddSink: other loops read it (Loop()) once the sink is in the table.
  if (napi_get_uv_event_loop(env, &loop_) != napi_ok) loop_ = nullptr;
  owner_ = ledger_->AddSink(this);
  // Grants for this environment wake its loop directly where possible (direct_wake.h); the
  // waiter thread and the TSFN above stay as the fallback.
  if (loop_ != nullptr) direct_ = ledger_->AttachLoop(loop_, thread_);
  // Registered after the TSFN, so (cleanup hooks run last-in first-out) it runs while the TSFN
  // still exists: a worker_thread that exits holding or waiting gives everything back here.
  cleanup_ = env.AddCleanupHook(std::function<void()>([this] { CloseNative(); }));
}

// JS thread (GC finalizer) or env teardown.
LedgerWrap::~LedgerWrap() {
  if (!closed_) {
    cleanup_.Remove(Env());
    CloseNative();
  }
}

// JS thread, or the env cleanup hook (also on the JS thread, at teardown).
void LedgerWrap::CloseNative() {
  if (closed_) return;
  closed_ = true;
  if (ledger_) {
    if (direct_) ledger_->DetachLoop(thread_);
    direct_ = false;
    ledger_->RemoveSink(owner_);  // from here the waiter thread never calls Deliver() on us
    try {
      ledger_->ReleaseOwner(owner_);
    } catch (const LedgerError&) {
      // Unrecoverable ledger: nothing of ours can be freed in it anyway. (Not a JS call: there
      // is nobody to report it to.)
    }
    ledger_.reset();  // the last handle in the process stops the waiter thread and unregisters
  }
  if (tsfn_live_) {
    tsfn_live_ = false;
    tsfn_.Release();
  }
}

// JS thread.
ProcessLedger& LedgerWrap::Ledger(const Napi::Env& env) {
  if (closed_) ThrowCoded(env, "E_CLOSED", "The host ledger is closed");
  return *ledger_;
}

// Waiter thread.
void LedgerWrap::Deliver(const GrantInfo& grant) {
  if (tsfn_.NonBlockingCall(new GrantInfo(grant)) != napi_ok) {
    // The TSFN is closing (env teardown): the cleanup hook's ReleaseOwner frees the hold.
  }
}

// JS thread.
std::vector<napi_value> GrantArgs(Napi::Env env, const GrantInfo& g) {
  return {Napi::Number::New(env, static_cast<double>(g.request)),
          Napi::Number::New(env, g.holder),
          Napi::Number::New(env, static_cast<double>(g.token >> 32)),
          Napi::Number::New(env, static_cast<double>(g.token & 0xFFFFFFFFu)),
          Napi::Number::New(env, static_cast<double>(g.fence)),
          Napi::Number::New(env, g.lost_reason),
          Napi::Number::New(env, g.resource == kNone ? -1.0 : static_cast<double>(g.resource)),
          Napi::Number::New(env, g.gang)};
}

// JS thread (the TSFN's call_js).
void CallGrantJs(Napi::Env env, Napi::Function cb, LedgerWrap* self, GrantInfo* g) {
  std::unique_ptr<GrantInfo> grant(g);
  if (env == nullptr || cb.IsEmpty()) return;
  try {
    cb.Call(GrantArgs(env, *grant));
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();  // surfaces as an uncaught exception, never a C++ abort
  }
}

// JS thread, from a libuv callback (no JS on the stack): MakeCallback, so promise reactions and
// nextTicks run once onGrant returns, as they do after a TSFN call.
void LedgerWrap::DeliverOnLoop(const GrantInfo& grant) {
  if (closed_ || on_grant_.IsEmpty()) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    // (napi_make_callback needs an object as receiver; onGrant uses no `this`.)
    on_grant_.MakeCallback(env.Global(), GrantArgs(env, grant), *grant_context_);
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env, e.Value());  // an uncaught exception, as from any callback
  }
}

// The methods below run on the JS thread, registered through Coded<> (see ledger_wrap.h): a
// LedgerError they throw reaches JS as a coded Error.

// defineResource(name, capacity, update) -> resource index.
Napi::Value LedgerWrap::DefineResource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  uint64_t capacity = U64(info[1]);
  bool update = info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  return Napi::Number::New(env, Ledger(env).DefineResource(name, capacity, update));
}

// findResource(name) -> resource index, or -1.
Napi::Value LedgerWrap::FindResource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t r = Ledger(env).FindResource(info[0].As<Napi::String>().Utf8Value());
  return Napi::Number::New(env, r == kNone ? -1.0 : static_cast<double>(r));
}

// setResourceState(resource, external, closed).
Napi::Value LedgerWrap::SetResourceState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ledger(env).SetResourceState(info[0].As<Napi::Number>().Uint32Value(), U64(info[1]),
                               info[2].As<Napi::Boolean>().Value());
  return env.Undefined();
}

// usage(resource) -> undefined; the figures go to the scratch array (no allocation: placement
// reads this on every decision).
Napi::Value LedgerWrap::Usage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ResourceUsage u = Ledger(env).Usage(info[0].As<Napi::Number>().Uint32Value());
  scratch_[0] = static_cast<double>(u.capacity);
  scratch_[1] = static_cast<double>(u.external);
  scratch_[2] = static_cast<double>(u.used);
  scratch_[3] = u.closed ? 1 : 0;
  scratch_[4] = u.waiting;
  scratch_[5] = u.has_head ? u.head_priority : std::numeric_limits<double>::quiet_NaN();
  return env.Undefined();
}

// acquire(resource, units, priority, queue, label, revokeAfterMs) -> an AcquireStatus code
// (codes.acquire); details in the scratch array.
Napi::Value LedgerWrap::Acquire(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AcquireResult r = Ledger(env).Acquire(
      info[0].As<Napi::Number>().Uint32Value(), U64(info[1]), info[2].As<Napi::Number>().Int32Value(), owner_, thread_,
      info[3].As<Napi::Boolean>().Value(), info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string(),
      info[5].IsNumber() ? U64(info[5]) : 0);
  scratch_[kSlot] = r.slot;
  scratch_[kTokenHi] = static_cast<double>(r.token >> 32);
  scratch_[kTokenLo] = static_cast<double>(r.token & 0xFFFFFFFFu);
  scratch_[kFence] = static_cast<double>(r.fence);
  scratch_[kRequest] = static_cast<double>(r.request);
  return Code(env, r.status);
}

// acquireSet(resources[], units, priority, queue, label, revokeAfterMs) -> [status, slot,
// request, then per member: resource, holderSlot, tokenHi, tokenLo, fence]: all of the
// resources or none (ProcessLedger::AcquireSet). An array, not the scratch: not the hot path.
Napi::Value LedgerWrap::AcquireSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<uint32_t> resources;
  for (uint32_t i = 0; i < list.Length(); i++) resources.push_back(list.Get(i).As<Napi::Number>().Uint32Value());
  AcquireSetResult r = Ledger(env).AcquireSet(
      resources, U64(info[1]), info[2].As<Napi::Number>().Int32Value(), owner_, thread_,
      info[3].As<Napi::Boolean>().Value(), info[4].IsString() ? info[4].As<Napi::String>().Utf8Value() : std::string(),
      info[5].IsNumber() ? U64(info[5]) : 0);
  Napi::Array out = Napi::Array::New(env, 3 + 5 * r.members.size());
  uint32_t k = 0;
  out.Set(k++, Code(env, r.status));
  out.Set(k++, Napi::Number::New(env, r.slot == kNone ? -1.0 : static_cast<double>(r.slot)));
  out.Set(k++, Napi::Number::New(env, static_cast<double>(r.request)));
  for (const SetMember& m : r.members) {
    out.Set(k++, Napi::Number::New(env, m.resource));
    out.Set(k++, Napi::Number::New(env, m.slot));
    out.Set(k++, Napi::Number::New(env, static_cast<double>(m.token >> 32)));
    out.Set(k++, Napi::Number::New(env, static_cast<double>(m.token & 0xFFFFFFFFu)));
    out.Set(k++, Napi::Number::New(env, static_cast<double>(m.fence)));
  }
  return out;
}

// cancel(waiterSlot, request) -> a CancelStatus code (codes.cancel).
Napi::Value LedgerWrap::Cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Code(env, Ledger(env).Cancel(info[0].As<Napi::Number>().Uint32Value(), U64(info[1])));
}

// release(holderSlot, tokenHi, tokenLo) -> a ReleaseStatus code (codes.release). A hold of
// another handle or process ends as revoke() ends it (see ProcessLedger::Release).
Napi::Value LedgerWrap::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Code(env, Ledger(env).Release(info[0].As<Napi::Number>().Uint32Value(), Token(info[1], info[2]), owner_));
}

// releaseSet([holderSlot, tokenHi, tokenLo, ...]) -> a ReleaseStatus code per hold, all under one
// lock (ProcessLedger::ReleaseSet).
Napi::Value LedgerWrap::ReleaseSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::pair<uint32_t, uint64_t>> holds;
  for (uint32_t i = 0; i + 2 < list.Length(); i += 3) {
    holds.emplace_back(list.Get(i).As<Napi::Number>().Uint32Value(), Token(list.Get(i + 1), list.Get(i + 2)));
  }
  std::vector<ReleaseStatus> statuses = Ledger(env).ReleaseSet(holds, owner_);
  Napi::Array out = Napi::Array::New(env, statuses.size());
  for (uint32_t i = 0; i < statuses.size(); i++) out.Set(i, Code(env, statuses[i]));
  return out;
}

// forget(holderSlot, tokenHi, tokenLo): the revocation notice reached the grant; free its slot.
Napi::Value LedgerWrap::Forget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Ledger(env).Forget(info[0].As<Napi::Number>().Uint32Value(), Token(info[1], info[2]));
  return env.Undefined();
}

// revoke(holderSlot, tokenHi, tokenLo, reason: codes.lostReason) -> true when taken away.
Napi::Value LedgerWrap::Revoke(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool ok = Ledger(env).Revoke(info[0].As<Napi::Number>().Uint32Value(), Token(info[1], info[2]),
                               info[3].As<Napi::Number>().Uint32Value());
  return Napi::Boolean::New(env, ok);
}

namespace {

// JS thread: resources, holders and waiters of a view onto `out`.
void PartsToJs(Napi::Env env, const LedgerView& v, Napi::Object out) {
  auto num = [&env](double d) { return Napi::Number::New(env, d); };
  Napi::Array resources = Napi::Array::New(env, v.resources.size());
  for (size_t i = 0; i < v.resources.size(); i++) {
    const ResourceView& r = v.resources[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", r.name);
    o.Set("capacity", num(static_cast<double>(r.capacity)));
    o.Set("used", num(static_cast<double>(r.used)));
    o.Set("fence", num(static_cast<double>(r.fence)));
    o.Set("waiting", num(r.waiting));
    o.Set("external", num(static_cast<double>(r.external)));
    o.Set("closed", Napi::Boolean::New(env, r.closed));
    resources.Set(i, o);
  }
  Napi::Array holders = Napi::Array::New(env, v.holders.size());
  for (size_t i = 0; i < v.holders.size(); i++) {
    const HolderView& h = v.holders[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("resource", h.resource);
    o.Set("label", h.label);
    o.Set("pid", num(h.pid));
    o.Set("thread", num(h.thread));
    o.Set("owner", num(h.owner));
    o.Set("slot", num(h.holder));
    o.Set("priority", num(h.priority));
    o.Set("units", num(static_cast<double>(h.units)));
    o.Set("fence", num(static_cast<double>(h.fence)));
    o.Set("sinceMs", num(static_cast<double>(h.since_ms)));
    o.Set("mine", Napi::Boolean::New(env, h.mine));
    holders.Set(i, o);
  }
  Napi::Array waiters = Napi::Array::New(env, v.waiters.size());
  for (size_t i = 0; i < v.waiters.size(); i++) {
    const WaiterView& w = v.waiters[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("resource", w.resource);
    o.Set("label", w.label);
    o.Set("pid", num(w.pid));
    o.Set("thread", num(w.thread));
    o.Set("owner", num(w.owner));
    o.Set("priority", num(w.priority));
    o.Set("units", num(static_cast<double>(w.units)));
    o.Set("seq", num(static_cast<double>(w.seq)));
    o.Set("sinceMs", num(static_cast<double>(w.since_ms)));
    o.Set("granted", Napi::Boolean::New(env, w.granted));
    waiters.Set(i, o);
  }
  out.Set("resources", resources);
  out.Set("holders", holders);
  out.Set("waiters", waiters);
}

}  // namespace

// JS thread.
Napi::Object ViewToJs(Napi::Env env, const LedgerView& v) {
  auto num = [&env](double d) { return Napi::Number::New(env, d); };
  Napi::Object out = Napi::Object::New(env);
  PartsToJs(env, v, out);
  Napi::Array procs = Napi::Array::New(env, v.procs.size());
  for (size_t i = 0; i < v.procs.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("pid", num(v.procs[i].first));
    o.Set("startTime", num(static_cast<double>(v.procs[i].second)));
    procs.Set(i, o);
  }
  out.Set("processes", procs);
  out.Set("ownershipViolations", num(static_cast<double>(v.ownership_violations)));
  out.Set("repairs", num(static_cast<double>(v.repairs)));
  out.Set("reclaimedProcesses", num(static_cast<double>(v.reclaimed_procs)));
  out.Set("grants", num(static_cast<double>(v.grants)));
  return out;
}

// inspect() -> the whole ledger (RawHostView).
Napi::Value LedgerWrap::Inspect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return ViewToJs(env, Ledger(env).Inspect());
}

// inspectResource(resource) -> { resources, holders, waiters } of that resource alone (no
// resource and no entries when it is not defined): copies only what one queue position needs.
Napi::Value LedgerWrap::InspectResource(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  PartsToJs(env, Ledger(env).Inspect(info[0].As<Napi::Number>().Uint32Value()), out);
  return out;
}

// close(): frees this handle's holds and waiters; idempotent.
Napi::Value LedgerWrap::Close(const Napi::CallbackInfo& info) {
  if (!closed_) {
    cleanup_.Remove(info.Env());
    CloseNative();
  }
  return info.Env().Undefined();
}

// The TSFN keeps the event loop alive only while this handle has waiters
// (src/backends/host/ledger.ts).
Napi::Value LedgerWrap::Ref(const Napi::CallbackInfo& info) {
  if (tsfn_live_) tsfn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value LedgerWrap::Unref(const Napi::CallbackInfo& info) {
  if (tsfn_live_) tsfn_.Unref(info.Env());
  return info.Env().Undefined();
}

// Test hooks (src/backends/host/test-hooks.ts) can wedge or corrupt a shared ledger on purpose:
// refused unless the process runs with GPU_ARBITER_TEST_HOOKS=1 (the test suites set it).
static void RequireTestHooks(Napi::Env env) {
  const char* v = getenv("GPU_ARBITER_TEST_HOOKS");
  if (v == nullptr || strcmp(v, "1") != 0) {
    ThrowCoded(env, "E_INVALID_ARGUMENT", "Host ledger test hooks need GPU_ARBITER_TEST_HOOKS=1");
  }
}

// testParkInLock(): never returns (see ProcessLedger::TestParkInLock).
Napi::Value LedgerWrap::TestParkInLock(const Napi::CallbackInfo& info) {
  RequireTestHooks(info.Env());
  Ledger(info.Env()).TestParkInLock();
}

// testInjectHolder(resource, units, pid, startTime) -> holder slot, or -1.
Napi::Value LedgerWrap::TestInjectHolder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireTestHooks(env);
  uint32_t h = Ledger(env).TestInjectHolder(info[0].As<Napi::Number>().Uint32Value(), U64(info[1]),
                                            info[2].As<Napi::Number>().Int32Value(), U64(info[3]));
  return Napi::Number::New(env, h == kNone ? -1.0 : static_cast<double>(h));
}

}  // namespace gpu_arbiter::host
