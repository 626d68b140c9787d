#pragma once
#include <napi.h>

#include "nvml/sample.h"

namespace gpu_arbiter::nvml {
// Converts a published snapshot to the raw JS shape declared in src/native/addon.ts (RawSnapshot).
// JS thread only.
Napi::Object SnapshotToJs(Napi::Env env, const Snapshot& snap);
}  // namespace gpu_arbiter::nvml
