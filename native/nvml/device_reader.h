#pragma once
// One sampling pass over every device. Runs on the sampler thread only.
#include "nvml/nvml_library.h"
#include "nvml/sample.h"

namespace gpu_arbiter::nvml {

// Fallback decisions learnt at run time (a versioned entry point that answered
// ARGUMENT_VERSION_MISMATCH or returned implausible entries is not tried again).
struct FallbackState {
  bool memoryV2Unusable = false;
  bool temperatureVUnusable = false;
  bool processesV3Unusable = false;
  bool processesV2Unusable = false;
};

// Fills snapshot->devices and the system fields from an initialised library.
void SampleAll(const Library& lib, FallbackState* state, Snapshot* snapshot);

}  // namespace gpu_arbiter::nvml
