#include "nvml/device_reader.h"

#include <cstring>

#include "nvml/nvml_errors.h"
#include "nvml/process_list.h"

namespace gpu_arbiter::nvml {
namespace {

Field<std::string> ReadString(StringFn fn) {
  Field<std::string> out;
  if (!fn) return out;
  char buf[kStringBufferSize] = {0};
  out.ret = fn(buf, sizeof(buf));
  if (out.ok()) out.value.assign(buf, strnlen(buf, sizeof(buf)));
  return out;
}

Field<std::string> ReadDeviceString(DeviceStringFn fn, Device dev) {
  Field<std::string> out;
  if (!fn) return out;
  char buf[kStringBufferSize] = {0};
  out.ret = fn(dev, buf, sizeof(buf));
  if (out.ok()) out.value.assign(buf, strnlen(buf, sizeof(buf)));
  return out;
}

// nvmlDeviceGetMemoryInfo_v2 (adds `reserved`), falling back to v1 when the symbol is missing
// or the driver refuses the struct version. `used` is reported as v1 defines it on every driver,
// allocated + driver-reserved (so total = used + free): v2's `used` leaves the reserved share out,
// and admission (src/policy/admission.ts) must see the same figure for the same card whichever
// call answered - reserved memory is not free for anyone to allocate.
Field<MemoryValue> ReadMemory(const Symbols& fn, Device dev, FallbackState* state, std::string* api) {
  Field<MemoryValue> out;
  if (fn.memoryV2 && !state->memoryV2Unusable) {
    MemoryV2 m{};
    m.version = kMemoryV2Version;
    out.ret = fn.memoryV2(dev, &m);
    if (out.ret == kErrorArgumentVersionMismatch || out.ret == kErrorFunctionNotFound) {
      state->memoryV2Unusable = true;
    } else {
      *api = "nvmlDeviceGetMemoryInfo_v2";
      if (out.ok()) out.value = {m.total, m.used + m.reserved, m.free, m.reserved, true};
      return out;
    }
  }
  if (!fn.memoryV1) return out;
  MemoryV1 m{};
  *api = "nvmlDeviceGetMemoryInfo";
  out.ret = fn.memoryV1(dev, &m);
  if (out.ok()) out.value = {m.total, m.used, m.free, 0, false};
  return out;
}

// nvmlDeviceGetTemperatureV (the plain call is deprecated from NVIDIA's 570 headers), falling back
// to nvmlDeviceGetTemperature where the driver lacks it or refuses the struct version.
Field<int> ReadTemperature(const Symbols& fn, Device dev, FallbackState* state, std::string* api) {
  Field<int> out;
  if (fn.temperatureV && !state->temperatureVUnusable) {
    TemperatureV1 t{};
    t.version = kTemperatureV1Version;
    t.sensorType = kTemperatureGpu;
    out.ret = fn.temperatureV(dev, &t);
    if (out.ret == kErrorArgumentVersionMismatch || out.ret == kErrorFunctionNotFound) {
      state->temperatureVUnusable = true;
    } else {
      *api = "nvmlDeviceGetTemperatureV";
      if (out.ok()) out.value = t.temperature;
      return out;
    }
  }
  if (!fn.temperature) return out;
  unsigned celsius = 0;
  *api = "nvmlDeviceGetTemperature";
  out.ret = fn.temperature(dev, kTemperatureGpu, &celsius);
  if (out.ok()) out.value = static_cast<int>(celsius);
  return out;
}

// Records a device-wide failure; returns true when reading this device must stop.
bool Fatal(DeviceSample* d, Return ret, const char* call) {
  if (!IsDeviceFatal(ret)) return false;
  d->fatal = ret;
  d->fatalCall = call;
  return true;
}

void SampleDevice(const Symbols& fn, size_t v3EntryBytes, unsigned index, FallbackState* state, Snapshot* snap) {
  DeviceSample d;
  d.index = index;
  Device dev = nullptr;
  Return rc = fn.handleByIndex(index, &dev);
  if (rc != kSuccess) {
    // Without a handle nothing else can be read: any failure here is device-wide.
    d.fatal = rc;
    d.fatalCall = "nvmlDeviceGetHandleByIndex";
    snap->devices.push_back(std::move(d));
    return;
  }
  std::string memoryApi;
  std::string temperatureApi;
  // Each read stops the device at the first device-wide error: a lost GPU answers every call
  // with GPU_IS_LOST, and waiting on each of them only delays the other devices.
  do {
    d.name = ReadDeviceString(fn.name, dev);
    if (Fatal(&d, d.name.ret, "nvmlDeviceGetName")) break;
    d.uuid = ReadDeviceString(fn.uuid, dev);
    if (Fatal(&d, d.uuid.ret, "nvmlDeviceGetUUID")) break;
    d.memory = ReadMemory(fn, dev, state, &memoryApi);
    if (Fatal(&d, d.memory.ret, "nvmlDeviceGetMemoryInfo")) break;
    if (fn.utilization) {
      d.utilization.ret = fn.utilization(dev, &d.utilization.value);
      if (Fatal(&d, d.utilization.ret, "nvmlDeviceGetUtilizationRates")) break;
    }
    d.temperatureC = ReadTemperature(fn, dev, state, &temperatureApi);
    if (Fatal(&d, d.temperatureC.ret, temperatureApi.c_str())) break;
    if (fn.powerUsage) {
      d.powerMw.ret = fn.powerUsage(dev, &d.powerMw.value);
      if (Fatal(&d, d.powerMw.ret, "nvmlDeviceGetPowerUsage")) break;
    }
    if (fn.powerLimit) {
      d.powerLimitMw.ret = fn.powerLimit(dev, &d.powerLimitMw.value);
      if (Fatal(&d, d.powerLimitMw.ret, "nvmlDeviceGetEnforcedPowerLimit")) break;
    }
    if (fn.persistenceMode) {
      int mode = 0;
      d.persistenceMode.ret = fn.persistenceMode(dev, &mode);
      d.persistenceMode.value = mode != 0;
      if (Fatal(&d, d.persistenceMode.ret, "nvmlDeviceGetPersistenceMode")) break;
    }
    if (fn.migMode) {
      unsigned current = 0, pending = 0;
      d.migMode.ret = fn.migMode(dev, &current, &pending);
      d.migMode.value = current != 0;
      if (Fatal(&d, d.migMode.ret, "nvmlDeviceGetMigMode")) break;
    }
    uint64_t total = d.memory.ok() ? d.memory.value.total : 0;
    std::string processApi;
    d.processes = ReadProcesses(fn, v3EntryBytes, dev, total, state, &processApi);
    if (!processApi.empty()) snap->api["processes"] = processApi;
    if (Fatal(&d, d.processes.ret, "nvmlDeviceGetComputeRunningProcesses")) break;
  } while (false);
  if (!memoryApi.empty()) snap->api["memory"] = memoryApi;
  if (!temperatureApi.empty()) snap->api["temperature"] = temperatureApi;
  snap->devices.push_back(std::move(d));
}

}  // namespace

void SampleAll(const Library& lib, FallbackState* state, Snapshot* snap) {
  const Symbols& fn = lib.fn();
  snap->libraryPath = lib.resolvedPath();
  for (const auto& kv : lib.api()) snap->api[kv.first] = kv.second;
  snap->driverVersion = ReadString(fn.driverVersion);
  snap->nvmlVersion = ReadString(fn.nvmlVersion);
  if (fn.cudaDriverVersion) snap->cudaDriverVersion.ret = fn.cudaDriverVersion(&snap->cudaDriverVersion.value);

  unsigned count = 0;
  snap->countError = fn.count(&count);
  if (snap->countError != kSuccess) return;
  for (unsigned i = 0; i < count; ++i) SampleDevice(fn, lib.processV3EntryBytes(), i, state, snap);
}

}  // namespace gpu_arbiter::nvml
