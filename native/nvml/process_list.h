#pragma once
// Compute-process lists, with the versioned fallback chain _v3 -> _v2 -> plain.
#include <cstdint>
#include <string>
#include <vector>

#include "nvml/device_reader.h"

namespace gpu_arbiter::nvml {

// `v3EntryBytes`: the driver's _v3 entry size (Library::processV3EntryBytes); `totalBytes`
// (0 = unknown) bounds plausible per-process use; `api` receives the entry point that produced
// the answer. Runs on the sampler thread.
Field<std::vector<ProcessValue>> ReadProcesses(const Symbols& fn, size_t v3EntryBytes, Device dev,
                                               uint64_t totalBytes, FallbackState* state, std::string* api);

}  // namespace gpu_arbiter::nvml
