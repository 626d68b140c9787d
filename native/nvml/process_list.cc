#include "nvml/process_list.h"

#include <cstring>

namespace gpu_arbiter::nvml {
namespace {

// Linux's pid_max can be at most 2^22 (PID_MAX_LIMIT on 64-bit).
constexpr uint32_t kPidMaxLimit = 4194304;
// The list can grow between the sizing call and the reading call: ask for a few more.
constexpr unsigned kHeadroom = 8;
constexpr int kAttempts = 3;
// Room per entry in our buffer. Drivers 535.43-535.85 wrote _v3 entries larger than the 24
// bytes the header declares; a buffer sized for 24-byte entries would be overrun.
constexpr size_t kSlotBytes = 64;

template <typename Entry>
bool Plausible(const Entry& e, uint64_t totalBytes) {
  if (e.pid == 0 || e.pid > kPidMaxLimit) return false;
  if (e.usedGpuMemory == kValueNotAvailable) return true;
  return totalBytes == 0 || e.usedGpuMemory <= totalBytes;
}

// Runs the count-then-read protocol for one entry point. Returns NVML's code; on success
// fills `out` and sets `*plausible` to whether every entry passed the sanity check.
template <typename Entry>
Return ReadWith(ProcessesFn call, Device dev, uint64_t totalBytes, std::vector<ProcessValue>* out,
                bool* plausible) {
  unsigned count = 0;
  Return rc = call(dev, &count, nullptr);
  if (rc == kSuccess) {  // zero processes
    out->clear();
    *plausible = true;
    return rc;
  }
  std::vector<unsigned char> buf;
  for (int attempt = 0; attempt < kAttempts && rc == kErrorInsufficientSize; ++attempt) {
    unsigned capacity = count + kHeadroom;
    buf.assign(static_cast<size_t>(capacity) * kSlotBytes, 0);
    count = capacity;
    rc = call(dev, &count, buf.data());
  }
  if (rc != kSuccess) return rc;
  out->clear();
  *plausible = true;
  for (unsigned i = 0; i < count; ++i) {
    Entry e;
    std::memcpy(&e, buf.data() + static_cast<size_t>(i) * sizeof(Entry), sizeof(Entry));
    if (!Plausible(e, totalBytes)) *plausible = false;
    ProcessValue p;
    p.pid = e.pid;
    p.usedKnown = e.usedGpuMemory != kValueNotAvailable;
    p.usedBytes = p.usedKnown ? e.usedGpuMemory : 0;
    out->push_back(p);
  }
  return rc;
}

}  // namespace

Field<std::vector<ProcessValue>> ReadProcesses(const Symbols& fn, Device dev, uint64_t totalBytes,
                                               FallbackState* state, std::string* api) {
  Field<std::vector<ProcessValue>> out;
  bool plausible = true;
  if (fn.processesV3 && !state->processesV3Unusable) {
    out.ret = ReadWith<ProcessInfoV2>(fn.processesV3, dev, totalBytes, &out.value, &plausible);
    if (out.ret != kErrorFunctionNotFound && out.ret != kErrorArgumentVersionMismatch && plausible) {
      *api = "nvmlDeviceGetComputeRunningProcesses_v3";
      return out;
    }
    state->processesV3Unusable = true;  // wrong layout or refused: use _v2 from now on
  }
  if (fn.processesV2 && !state->processesV2Unusable) {
    out.ret = ReadWith<ProcessInfoV2>(fn.processesV2, dev, totalBytes, &out.value, &plausible);
    if (out.ret != kErrorFunctionNotFound && out.ret != kErrorArgumentVersionMismatch && plausible) {
      *api = "nvmlDeviceGetComputeRunningProcesses_v2";
      return out;
    }
    state->processesV2Unusable = true;
  }
  out = {};
  if (!fn.processesV1) return out;
  *api = "nvmlDeviceGetComputeRunningProcesses";
  out.ret = ReadWith<ProcessInfoV1>(fn.processesV1, dev, totalBytes, &out.value, &plausible);
  return out;
}

}  // namespace gpu_arbiter::nvml
