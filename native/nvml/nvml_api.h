#pragma once
// The slice of NVML's C ABI that we call, declared here so no CUDA headers are needed to build.
// These layouts are NVIDIA's stable ABI (nvml.h). Every size, field offset and version word is
// pinned with static_assert below (LP64), and test/nvml-layout.test.ts compiles the same figures
// against NVIDIA's own nvml.h, so a typo here fails the build and a drift from NVIDIA fails a test.
#include <cstddef>
#include <cstdint>

namespace gpu_arbiter::nvml {

using Return = int;  // nvmlReturn_t
constexpr Return kSuccess = 0;
constexpr Return kErrorUninitialized = 1;
constexpr Return kErrorInvalidArgument = 2;
constexpr Return kErrorNotSupported = 3;
constexpr Return kErrorInsufficientSize = 7;
constexpr Return kErrorDriverNotLoaded = 9;
constexpr Return kErrorLibraryNotFound = 12;
constexpr Return kErrorFunctionNotFound = 13;
constexpr Return kErrorGpuIsLost = 15;
constexpr Return kErrorResetRequired = 16;
constexpr Return kErrorArgumentVersionMismatch = 25;
constexpr Return kErrorUnknown = 999;

using Device = struct nvmlDevice_st*;  // nvmlDevice_t, opaque

struct MemoryV1 {  // nvmlMemory_t
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;  // allocated + driver-reserved
};
static_assert(sizeof(MemoryV1) == 24, "nvmlMemory_t is 24 bytes");
static_assert(offsetof(MemoryV1, total) == 0 && offsetof(MemoryV1, free) == 8 && offsetof(MemoryV1, used) == 16,
              "nvmlMemory_t field offsets");

struct MemoryV2 {  // nvmlMemory_v2_t
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;  // allocated only
};
static_assert(sizeof(MemoryV2) == 40, "nvmlMemory_v2_t is 40 bytes on LP64");
static_assert(offsetof(MemoryV2, version) == 0 && offsetof(MemoryV2, total) == 8 && offsetof(MemoryV2, reserved) == 16 &&
                  offsetof(MemoryV2, free) == 24 && offsetof(MemoryV2, used) == 32,
              "nvmlMemory_v2_t field offsets");
// NVML_STRUCT_VERSION(Memory, 2): sizeof | (version << 24).
constexpr unsigned int kMemoryV2Version = static_cast<unsigned int>(sizeof(MemoryV2)) | (2u << 24);
static_assert(kMemoryV2Version == 0x02000028u, "nvmlMemory_v2 is 0x02000028");

struct Utilization {  // nvmlUtilization_t
  unsigned int gpu;
  unsigned int memory;
};
static_assert(sizeof(Utilization) == 8 && offsetof(Utilization, gpu) == 0 && offsetof(Utilization, memory) == 4,
              "nvmlUtilization_t layout");

struct ProcessInfoV1 {  // nvmlProcessInfo_v1_t (plain ...GetComputeRunningProcesses)
  unsigned int pid;
  unsigned long long usedGpuMemory;
};
static_assert(sizeof(ProcessInfoV1) == 16, "nvmlProcessInfo_v1_t is 16 bytes");
static_assert(offsetof(ProcessInfoV1, pid) == 0 && offsetof(ProcessInfoV1, usedGpuMemory) == 8,
              "nvmlProcessInfo_v1_t field offsets");

struct ProcessInfoV2 {  // nvmlProcessInfo_v2_t == nvmlProcessInfo_t (used by _v2 and _v3)
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
};
static_assert(sizeof(ProcessInfoV2) == 24, "nvmlProcessInfo_v2_t is 24 bytes");
static_assert(offsetof(ProcessInfoV2, pid) == 0 && offsetof(ProcessInfoV2, usedGpuMemory) == 8 &&
                  offsetof(ProcessInfoV2, gpuInstanceId) == 16 && offsetof(ProcessInfoV2, computeInstanceId) == 20,
              "nvmlProcessInfo_v2_t field offsets");

// _v3 entries as drivers 535.43.02-535.86.x wrote them (their headers added this field; 535.98
// dropped _v3 and 535.104.05 brought it back at 24 bytes): ProcessInfoV2 plus 8 bytes.
struct ProcessInfoV3Cc {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
  unsigned long long usedGpuCcProtectedMemory;
};
static_assert(sizeof(ProcessInfoV3Cc) == 32 && offsetof(ProcessInfoV3Cc, usedGpuCcProtectedMemory) == 24,
              "535.43-535.86 _v3 entries are 32 bytes, usedGpuCcProtectedMemory at 24");

struct TemperatureV1 {  // nvmlTemperature_v1_t (nvmlDeviceGetTemperatureV, drivers 565+)
  unsigned int version;
  int sensorType;  // nvmlTemperatureSensors_t
  int temperature;
};
static_assert(sizeof(TemperatureV1) == 12 && offsetof(TemperatureV1, sensorType) == 4 &&
                  offsetof(TemperatureV1, temperature) == 8,
              "nvmlTemperature_v1_t layout");
// NVML_STRUCT_VERSION(Temperature, 1).
constexpr unsigned int kTemperatureV1Version = static_cast<unsigned int>(sizeof(TemperatureV1)) | (1u << 24);
static_assert(kTemperatureV1Version == 0x0100000Cu, "nvmlTemperature_v1 is 0x0100000C");

constexpr unsigned long long kValueNotAvailable = ~0ULL;  // NVML_VALUE_NOT_AVAILABLE
constexpr unsigned int kInitFlagNoGpus = 1;               // NVML_INIT_FLAG_NO_GPUS
constexpr int kTemperatureGpu = 0;                        // NVML_TEMPERATURE_GPU
constexpr unsigned int kStringBufferSize = 96;            // >= NVML_DEVICE_NAME_V2_BUFFER_SIZE, UUID_V2, versions

// Function pointer types, one per entry point we resolve.
using InitWithFlagsFn = Return (*)(unsigned int);
using InitFn = Return (*)();
using ShutdownFn = Return (*)();
using ErrorStringFn = const char* (*)(Return);
using StringFn = Return (*)(char*, unsigned int);
using IntFn = Return (*)(int*);
using CountFn = Return (*)(unsigned int*);
using HandleByIndexFn = Return (*)(unsigned int, Device*);
using DeviceStringFn = Return (*)(Device, char*, unsigned int);
using MemoryV1Fn = Return (*)(Device, MemoryV1*);
using MemoryV2Fn = Return (*)(Device, MemoryV2*);
using UtilizationFn = Return (*)(Device, Utilization*);
using TemperatureFn = Return (*)(Device, int, unsigned int*);
using TemperatureVFn = Return (*)(Device, TemperatureV1*);
using DeviceUintFn = Return (*)(Device, unsigned int*);
using DeviceEnableStateFn = Return (*)(Device, int*);
using MigModeFn = Return (*)(Device, unsigned int*, unsigned int*);
using ProcessesFn = Return (*)(Device, unsigned int*, void*);

}  // namespace gpu_arbiter::nvml
