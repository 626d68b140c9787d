#include "nvml/process_list.h"

#include <cstring>

namespace gpu_arbiter::nvml {
namespace {

// Linux's pid_max can be at most 2^22 (PID_MAX_LIMIT on 64-bit).
constexpr uint32_t kPidMaxLimit = 4194304;
// The list can grow between the sizing call and the reading call: ask for a few more.
constexpr unsigned kHeadroom = 8;
constexpr int kAttempts = 3;
// Room per entry in our buffer, more than any entry size a driver has written (32 on 535.43-535.86,
// whose _v3 entries were larger than the 24 bytes other headers declare), so even a driver whose
// version we could not read cannot overrun it.
constexpr size_t kSlotBytes = 64;
static_assert(kSlotBytes >= sizeof(ProcessInfoV3Cc), "a slot holds the largest entry");

template <typename Entry>
bool Plausible(const Entry& e, uint64_t totalBytes) {
  if (e.pid == 0 || e.pid > kPidMaxLimit) return false;
  if (e.usedGpuMemory == kValueNotAvailable) return true;
  return totalBytes == 0 || e.usedGpuMemory <= totalBytes;
}

// Runs the count-then-read protocol for one entry point whose entries are `stride` bytes apart
// (the first sizeof(Entry) of each read). Returns NVML's code; on success fills `out` and sets
// `*plausible` to whether every entry passed the sanity check.
template <typename Entry>
Return ReadWith(ProcessesFn call, size_t stride, Device dev, uint64_t totalBytes, std::vector<ProcessValue>* out,
                bool* plausible) {
  *plausible = true;
  unsigned count = 0;
  Return rc = call(dev, &count, nullptr);
  if (rc == kSuccess) {  // zero processes
    out->clear();
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
  for (unsigned i = 0; i < count; ++i) {
    Entry e;
    std::memcpy(&e, buf.data() + static_cast<size_t>(i) * stride, sizeof(Entry));
    if (!Plausible(e, totalBytes)) *plausible = false;
    ProcessValue p;
    p.pid = e.pid;
    p.usedKnown = e.usedGpuMemory != kValueNotAvailable;
    p.usedBytes = p.usedKnown ? e.usedGpuMemory : 0;
    out->push_back(p);
  }
  return rc;
}

// One versioned attempt (_v3 or _v2). Its verdict is its own: the entry point is given up for
// good only when this driver lacks it, refuses its struct version, or answered with entries
// that cannot be right (a layout we misread). Any other error (NO_PERMISSION, a lost GPU, a
// list that kept growing) is this sample's answer: reported, not remembered, and not
// papered over by an older entry point.
bool TryVersioned(ProcessesFn call, const char* name, size_t stride, Device dev, uint64_t totalBytes,
                  bool* unusable, Field<std::vector<ProcessValue>>* out, std::string* api) {
  if (!call || *unusable) return false;
  bool plausible = true;
  std::vector<ProcessValue> list;
  Return rc = ReadWith<ProcessInfoV2>(call, stride, dev, totalBytes, &list, &plausible);
  if (rc == kErrorFunctionNotFound || rc == kErrorArgumentVersionMismatch || (rc == kSuccess && !plausible)) {
    *unusable = true;
    return false;
  }
  out->ret = rc;
  out->value = rc == kSuccess ? std::move(list) : std::vector<ProcessValue>{};
  *api = name;
  return true;
}

}  // namespace

Field<std::vector<ProcessValue>> ReadProcesses(const Symbols& fn, size_t v3EntryBytes, Device dev,
                                               uint64_t totalBytes, FallbackState* state, std::string* api) {
  Field<std::vector<ProcessValue>> out;
  if (TryVersioned(fn.processesV3, "nvmlDeviceGetComputeRunningProcesses_v3", v3EntryBytes, dev, totalBytes,
                   &state->processesV3Unusable, &out, api)) {
    return out;
  }
  // _v2 entries are 24 bytes on every driver.
  if (TryVersioned(fn.processesV2, "nvmlDeviceGetComputeRunningProcesses_v2", sizeof(ProcessInfoV2), dev,
                   totalBytes, &state->processesV2Unusable, &out, api)) {
    return out;
  }
  if (!fn.processesV1) return out;  // NOT_SUPPORTED: no entry point left
  *api = "nvmlDeviceGetComputeRunningProcesses";
  bool plausible = true;  // the oldest layout has no alternative: its answer stands
  out.ret = ReadWith<ProcessInfoV1>(fn.processesV1, sizeof(ProcessInfoV1), dev, totalBytes, &out.value, &plausible);
  return out;
}

}  // namespace gpu_arbiter::nvml
