#pragma once
// An opened and initialised NVML library. Opening runs on the sampler thread, never on the JS
// thread: dlopen of the real driver library and nvmlInit can take seconds on a cold GPU.
#include <map>
#include <memory>
#include <string>

#include "nvml/nvml_api.h"

namespace gpu_arbiter::nvml {

// Entry points, resolved once with dlsym. A null pointer means the symbol is absent in this
// driver; callers walk the versioned fallback chains (newest first).
struct Symbols {
  ShutdownFn shutdown = nullptr;
  ErrorStringFn errorString = nullptr;
  StringFn driverVersion = nullptr;
  StringFn nvmlVersion = nullptr;
  IntFn cudaDriverVersion = nullptr;  // plain, else _v2 (which loads libcuda.so.1 into the process)
  CountFn count = nullptr;            // _v2, else plain
  HandleByIndexFn handleByIndex = nullptr;  // _v2, else plain
  DeviceStringFn name = nullptr;
  DeviceStringFn uuid = nullptr;
  MemoryV2Fn memoryV2 = nullptr;
  MemoryV1Fn memoryV1 = nullptr;
  UtilizationFn utilization = nullptr;
  TemperatureVFn temperatureV = nullptr;  // 565+; the plain call is deprecated from 570's headers
  TemperatureFn temperature = nullptr;
  DeviceUintFn powerUsage = nullptr;
  DeviceUintFn powerLimit = nullptr;
  DeviceEnableStateFn persistenceMode = nullptr;
  MigModeFn migMode = nullptr;
  ProcessesFn processesV3 = nullptr;
  ProcessesFn processesV2 = nullptr;
  ProcessesFn processesV1 = nullptr;
};

struct OpenFailure {
  std::string reason;               // human text, e.g. "libnvidia-ml.so.1 not found: ..."
  Return initError = kSuccess;      // NVML's return when nvmlInit itself failed
  // Set once dlopen succeeded, so a user sees which library answered even when its init
  // failed (a driver that is not loaded is a different fix from a library that is not found).
  std::string libraryPath;
  std::map<std::string, std::string> api;  // the entry points the library would be read through
};

class Library {
 public:
  // dlopen + dlsym + nvmlInit. Returns null and fills `failure` when NVML cannot be used.
  static std::unique_ptr<Library> Open(const std::string& path, OpenFailure* failure);
  ~Library();  // one nvmlShutdown for our one init, then dlclose
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const Symbols& fn() const { return fn_; }
  const std::string& resolvedPath() const { return resolvedPath_; }
  // Bytes per nvmlDeviceGetComputeRunningProcesses_v3 entry on this driver: 32 on 535.43-535.86
  // (read from nvmlSystemGetDriverVersion after init), 24 everywhere else.
  size_t processV3EntryBytes() const { return processV3EntryBytes_; }
  // Which entry point of each fallback chain is in use ("init" -> "nvmlInitWithFlags", ...): the
  // newest the library exports; the sampler overwrites memory/processes when a sample shows
  // the driver refuses that one.
  const std::map<std::string, std::string>& api() const { return api_; }

 private:
  Library() = default;
  void* handle_ = nullptr;
  bool initialised_ = false;
  Symbols fn_;
  std::string resolvedPath_;
  std::map<std::string, std::string> api_;
  size_t processV3EntryBytes_ = sizeof(ProcessInfoV2);
};

}  // namespace gpu_arbiter::nvml
