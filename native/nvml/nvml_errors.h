#pragma once
#include <string>

#include "nvml/nvml_api.h"

namespace gpu_arbiter::nvml {
// NVML's return code as its enum name (NVML_SUCCESS, NVML_ERROR_GPU_IS_LOST, ...). Stable text
// for JS: tests and users switch on it. Unknown codes read NVML_ERROR_CODE_<n>.
std::string ReturnName(Return code);

// True for errors that make the whole device unusable (not just one field).
bool IsDeviceFatal(Return code);
}  // namespace gpu_arbiter::nvml
