#include "nvml/nvml_library.h"

#include <dlfcn.h>
#include <link.h>

#include <cstdio>

#include "nvml/nvml_errors.h"

namespace gpu_arbiter::nvml {
namespace {

template <typename Fn>
Fn Resolve(void* handle, const char* name) {
  return reinterpret_cast<Fn>(dlsym(handle, name));
}

// Resolves the first present symbol of a versioned chain (newest first) and records which one.
template <typename Fn>
Fn ResolveChain(void* handle, std::initializer_list<const char*> names, const char* apiKey,
                std::map<std::string, std::string>* api) {
  for (const char* name : names) {
    if (Fn fn = Resolve<Fn>(handle, name)) {
      (*api)[apiKey] = name;
      return fn;
    }
  }
  return nullptr;
}

std::string ErrorText(const Symbols& fn, Return code) {
  std::string text = ReturnName(code);
  if (fn.errorString) {
    if (const char* s = fn.errorString(code)) text += std::string(" (") + s + ")";
  }
  return text;
}

// The _v3 entry size a driver version ("535.54.03") implies: 535.43.02 (the first with
// usedGpuCcProtectedMemory) to 535.86.x wrote 32 bytes; 535.98 had no _v3; 535.104.05 is 24 again.
size_t ProcessV3EntryBytesFor(const char* driverVersion) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(driverVersion, "%u.%u", &major, &minor) != 2) return sizeof(ProcessInfoV2);
  bool cc = major == 535 && minor >= 43 && minor < 98;
  return cc ? sizeof(ProcessInfoV3Cc) : sizeof(ProcessInfoV2);
}

}  // namespace

std::unique_ptr<Library> Library::Open(const std::string& path, OpenFailure* failure) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    failure->reason = path + " not found: " + (err ? err : "dlopen failed");
    return nullptr;
  }
  std::unique_ptr<Library> lib(new Library());
  lib->handle_ = handle;
  lib->resolvedPath_ = path;
  struct link_map* map = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0]) {
    lib->resolvedPath_ = map->l_name;
  }

  auto* api = &lib->api_;
  Symbols& fn = lib->fn_;
  fn.errorString = Resolve<ErrorStringFn>(handle, "nvmlErrorString");
  fn.shutdown = Resolve<ShutdownFn>(handle, "nvmlShutdown");
  fn.driverVersion = Resolve<StringFn>(handle, "nvmlSystemGetDriverVersion");
  fn.nvmlVersion = Resolve<StringFn>(handle, "nvmlSystemGetNVMLVersion");
  // The plain call first: _v2 asks libcuda.so.1, loading it into this process, and fails with
  // LIBRARY_NOT_FOUND where it is absent (utility-only containers); the plain one answers from
  // the driver, with a known supported version when libcuda is missing (NVIDIA's nvml.h).
  fn.cudaDriverVersion = ResolveChain<IntFn>(
      handle, {"nvmlSystemGetCudaDriverVersion", "nvmlSystemGetCudaDriverVersion_v2"}, "cudaDriverVersion", api);
  fn.count = ResolveChain<CountFn>(handle, {"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}, "count", api);
  fn.handleByIndex = ResolveChain<HandleByIndexFn>(
      handle, {"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}, "handle", api);
  fn.name = Resolve<DeviceStringFn>(handle, "nvmlDeviceGetName");
  fn.uuid = Resolve<DeviceStringFn>(handle, "nvmlDeviceGetUUID");
  fn.memoryV2 = Resolve<MemoryV2Fn>(handle, "nvmlDeviceGetMemoryInfo_v2");
  fn.memoryV1 = Resolve<MemoryV1Fn>(handle, "nvmlDeviceGetMemoryInfo");
  ResolveChain<void*>(handle, {"nvmlDeviceGetMemoryInfo_v2", "nvmlDeviceGetMemoryInfo"}, "memory", api);
  fn.utilization = Resolve<UtilizationFn>(handle, "nvmlDeviceGetUtilizationRates");
  fn.temperatureV = Resolve<TemperatureVFn>(handle, "nvmlDeviceGetTemperatureV");
  fn.temperature = Resolve<TemperatureFn>(handle, "nvmlDeviceGetTemperature");
  ResolveChain<void*>(handle, {"nvmlDeviceGetTemperatureV", "nvmlDeviceGetTemperature"}, "temperature", api);
  fn.powerUsage = Resolve<DeviceUintFn>(handle, "nvmlDeviceGetPowerUsage");
  fn.powerLimit = Resolve<DeviceUintFn>(handle, "nvmlDeviceGetEnforcedPowerLimit");
  fn.persistenceMode = Resolve<DeviceEnableStateFn>(handle, "nvmlDeviceGetPersistenceMode");
  fn.migMode = Resolve<MigModeFn>(handle, "nvmlDeviceGetMigMode");
  fn.processesV3 = Resolve<ProcessesFn>(handle, "nvmlDeviceGetComputeRunningProcesses_v3");
  fn.processesV2 = Resolve<ProcessesFn>(handle, "nvmlDeviceGetComputeRunningProcesses_v2");
  fn.processesV1 = Resolve<ProcessesFn>(handle, "nvmlDeviceGetComputeRunningProcesses");
  ResolveChain<void*>(handle,
                      {"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
                       "nvmlDeviceGetComputeRunningProcesses"},
                      "processes", api);

  // Init chain: nvmlInitWithFlags(NO_GPUS) succeeds on a driver with zero GPUs (we then report
  // zero devices rather than an error); older drivers have only nvmlInit_v2 or nvmlInit.
  Return rc = kErrorFunctionNotFound;
  if (auto initFlags = Resolve<InitWithFlagsFn>(handle, "nvmlInitWithFlags")) {
    (*api)["init"] = "nvmlInitWithFlags";
    rc = initFlags(kInitFlagNoGpus);
  } else if (auto init = ResolveChain<InitFn>(handle, {"nvmlInit_v2", "nvmlInit"}, "init", api)) {
    rc = init();
  } else {
    failure->libraryPath = lib->resolvedPath_;
    failure->reason = lib->resolvedPath_ + " is not NVML: it has no nvmlInit";
    return nullptr;  // destructor dlcloses; no init was made so no shutdown
  }
  if (rc != kSuccess) {
    failure->initError = rc;
    failure->libraryPath = lib->resolvedPath_;
    failure->api = lib->api_;
    failure->reason = "nvmlInit failed: " + ErrorText(fn, rc) + " (library " + lib->resolvedPath_ + ")";
    return nullptr;
  }
  lib->initialised_ = true;
  if (fn.driverVersion) {
    char version[kStringBufferSize] = {0};
    if (fn.driverVersion(version, sizeof(version)) == kSuccess) {
      lib->processV3EntryBytes_ = ProcessV3EntryBytesFor(version);
      if (lib->processV3EntryBytes_ != sizeof(ProcessInfoV2)) {
        (*api)["processesEntryBytes"] = std::to_string(lib->processV3EntryBytes_);
      }
    }
  }
  if (!fn.count || !fn.handleByIndex) {
    failure->libraryPath = lib->resolvedPath_;
    failure->reason = lib->resolvedPath_ + " lacks nvmlDeviceGetCount or nvmlDeviceGetHandleByIndex";
    return nullptr;
  }
  return lib;
}

Library::~Library() {
  // NVML counts inits; we made exactly one, so we shut down exactly once.
  if (initialised_ && fn_.shutdown) fn_.shutdown();
  if (handle_) dlclose(handle_);
}

}  // namespace gpu_arbiter::nvml
