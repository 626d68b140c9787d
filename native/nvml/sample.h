#pragma once
// Plain data produced by one sampling pass. Built on the sampler thread, then published as an
// immutable shared_ptr<const Snapshot>; the JS thread only reads published snapshots.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nvml/nvml_api.h"

namespace gpu_arbiter::nvml {

// A value with the NVML return that produced it; the value is meaningful only when ok().
template <typename T>
struct Field {
  Return ret = kErrorNotSupported;
  T value{};
  bool ok() const { return ret == kSuccess; }
};

struct MemoryValue {
  uint64_t total = 0;
  uint64_t used = 0;
  uint64_t free = 0;
  uint64_t reserved = 0;
  bool hasReserved = false;  // only nvmlDeviceGetMemoryInfo_v2 reports it
};

struct ProcessValue {
  uint32_t pid = 0;
  bool usedKnown = false;  // false for NVML_VALUE_NOT_AVAILABLE
  uint64_t usedBytes = 0;
};

struct DeviceSample {
  unsigned index = 0;
  Return fatal = kSuccess;  // device-wide failure (lost, reset required, no handle)
  std::string fatalCall;    // the NVML call that reported it
  Field<std::string> name;
  Field<std::string> uuid;
  Field<MemoryValue> memory;
  Field<Utilization> utilization;
  Field<int> temperatureC;  // nvmlTemperature_v1_t holds a signed value
  Field<unsigned> powerMw;
  Field<unsigned> powerLimitMw;
  Field<bool> persistenceMode;
  Field<bool> migMode;
  Field<std::vector<ProcessValue>> processes;
};

struct Snapshot {
  uint64_t seq = 0;
  double takenAtMs = 0;   // wall clock, ms since epoch
  double durationUs = 0;  // time spent in NVML for this pass
  bool available = false;
  std::string reason;     // why unavailable
  Return initError = kSuccess;
  std::string libraryPath;
  Field<std::string> driverVersion;
  Field<std::string> nvmlVersion;
  Field<int> cudaDriverVersion;
  Return countError = kSuccess;
  std::map<std::string, std::string> api;
  std::vector<DeviceSample> devices;
};

}  // namespace gpu_arbiter::nvml
