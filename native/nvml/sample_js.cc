#include "nvml/sample_js.h"

#include "nvml/nvml_errors.h"

namespace gpu_arbiter::nvml {
namespace {

// Unknown values are null, never 0 (a 0 would read as "idle" or "empty").
template <typename T, typename Conv>
Napi::Value Or(Napi::Env env, const Field<T>& f, Conv conv) {
  return f.ok() ? conv(f.value) : env.Null();
}

Napi::Value Num(Napi::Env env, double v) { return Napi::Number::New(env, v); }

Napi::Object DeviceToJs(Napi::Env env, const DeviceSample& d) {
  auto o = Napi::Object::New(env);
  auto errors = Napi::Object::New(env);
  auto note = [&](const char* key, Return ret) {
    // A field not read because the device failed first carries no error of its own.
    if (ret != kSuccess && d.fatal == kSuccess) errors.Set(key, ReturnName(ret));
  };
  o.Set("index", d.index);
  o.Set("error", d.fatal == kSuccess ? env.Null() : Napi::String::New(env, ReturnName(d.fatal)));
  if (d.fatal != kSuccess) o.Set("errorCall", d.fatalCall);
  auto str = [&](const std::string& s) { return Napi::String::New(env, s); };
  o.Set("name", Or(env, d.name, str));
  o.Set("uuid", Or(env, d.uuid, str));
  o.Set("memory", Or(env, d.memory, [&](const MemoryValue& m) -> Napi::Value {
          auto mo = Napi::Object::New(env);
          mo.Set("total", Num(env, static_cast<double>(m.total)));
          mo.Set("used", Num(env, static_cast<double>(m.used)));
          mo.Set("free", Num(env, static_cast<double>(m.free)));
          mo.Set("reserved", m.hasReserved ? Num(env, static_cast<double>(m.reserved)) : env.Null());
          return mo;
        }));
  o.Set("utilization", Or(env, d.utilization, [&](const Utilization& u) -> Napi::Value {
          auto uo = Napi::Object::New(env);
          uo.Set("gpu", u.gpu);
          uo.Set("memory", u.memory);
          return uo;
        }));
  o.Set("temperatureC", Or(env, d.temperatureC, [&](int v) { return Num(env, v); }));
  o.Set("powerW", Or(env, d.powerMw, [&](unsigned v) { return Num(env, v / 1000.0); }));
  o.Set("powerLimitW", Or(env, d.powerLimitMw, [&](unsigned v) { return Num(env, v / 1000.0); }));
  o.Set("persistenceMode", Or(env, d.persistenceMode, [&](bool v) { return Napi::Boolean::New(env, v); }));
  o.Set("migMode", Or(env, d.migMode, [&](bool v) { return Napi::Boolean::New(env, v); }));
  o.Set("processes", Or(env, d.processes, [&](const std::vector<ProcessValue>& list) -> Napi::Value {
          auto arr = Napi::Array::New(env, list.size());
          for (size_t i = 0; i < list.size(); ++i) {
            auto po = Napi::Object::New(env);
            po.Set("pid", list[i].pid);
            po.Set("usedBytes", list[i].usedKnown ? Num(env, static_cast<double>(list[i].usedBytes)) : env.Null());
            arr.Set(static_cast<uint32_t>(i), po);
          }
          return arr;
        }));
  note("name", d.name.ret);
  note("uuid", d.uuid.ret);
  note("memory", d.memory.ret);
  note("utilization", d.utilization.ret);
  note("temperature", d.temperatureC.ret);
  note("power", d.powerMw.ret);
  note("powerLimit", d.powerLimitMw.ret);
  note("persistenceMode", d.persistenceMode.ret);
  note("migMode", d.migMode.ret);
  note("processes", d.processes.ret);
  o.Set("errors", errors);
  return o;
}

}  // namespace

Napi::Object SnapshotToJs(Napi::Env env, const Snapshot& s) {
  auto o = Napi::Object::New(env);
  auto str = [&](const std::string& v) { return Napi::String::New(env, v); };
  o.Set("seq", Num(env, static_cast<double>(s.seq)));
  o.Set("takenAtMs", Num(env, s.takenAtMs));
  o.Set("durationUs", Num(env, s.durationUs));
  o.Set("available", s.available);
  o.Set("reason", s.reason.empty() ? env.Null() : str(s.reason));
  o.Set("initError", s.initError == kSuccess ? env.Null() : str(ReturnName(s.initError)));
  o.Set("libraryPath", s.libraryPath.empty() ? env.Null() : str(s.libraryPath));
  o.Set("driverVersion", Or(env, s.driverVersion, str));
  o.Set("nvmlVersion", Or(env, s.nvmlVersion, str));
  o.Set("cudaDriverVersion", Or(env, s.cudaDriverVersion, [&](int v) { return Num(env, v); }));
  o.Set("countError", s.countError == kSuccess ? env.Null() : str(ReturnName(s.countError)));
  auto api = Napi::Object::New(env);
  for (const auto& kv : s.api) api.Set(kv.first, kv.second);
  o.Set("api", api);
  auto devices = Napi::Array::New(env, s.devices.size());
  for (size_t i = 0; i < s.devices.size(); ++i) devices.Set(static_cast<uint32_t>(i), DeviceToJs(env, s.devices[i]));
  o.Set("devices", devices);
  return o;
}

}  // namespace gpu_arbiter::nvml
