// NVML return codes reach users by name (GpuDevice.error.nvmlReturn, fieldErrors, initError), so
// the binding's table (native/nvml/nvml_errors.cc) must name every code exactly as NVIDIA does.
import { describe, expect, it } from 'vitest';
import { addon } from '../src/native/addon';

// nvmlReturn_t as declared in NVIDIA's newest nvml.h ("NVML VERSION: 13.3.29", 2026; code 30
// arrived with driver 580). Copied by hand: the header is not ours to ship. The layout test
// (test/nvml-layout.test.ts) also checks the table against the nvml.h Debian's
// libnvidia-ml-dev installs, where that can be fetched.
const NVIDIA_RETURNS: ReadonlyArray<readonly [number, string]> = [
  [0, 'NVML_SUCCESS'],
  [1, 'NVML_ERROR_UNINITIALIZED'],
  [2, 'NVML_ERROR_INVALID_ARGUMENT'],
  [3, 'NVML_ERROR_NOT_SUPPORTED'],
  [4, 'NVML_ERROR_NO_PERMISSION'],
  [5, 'NVML_ERROR_ALREADY_INITIALIZED'],
  [6, 'NVML_ERROR_NOT_FOUND'],
  [7, 'NVML_ERROR_INSUFFICIENT_SIZE'],
  [8, 'NVML_ERROR_INSUFFICIENT_POWER'],
  [9, 'NVML_ERROR_DRIVER_NOT_LOADED'],
  [10, 'NVML_ERROR_TIMEOUT'],
  [11, 'NVML_ERROR_IRQ_ISSUE'],
  [12, 'NVML_ERROR_LIBRARY_NOT_FOUND'],
  [13, 'NVML_ERROR_FUNCTION_NOT_FOUND'],
  [14, 'NVML_ERROR_CORRUPTED_INFOROM'],
  [15, 'NVML_ERROR_GPU_IS_LOST'],
  [16, 'NVML_ERROR_RESET_REQUIRED'],
  [17, 'NVML_ERROR_OPERATING_SYSTEM'],
  [18, 'NVML_ERROR_LIB_RM_VERSION_MISMATCH'],
  [19, 'NVML_ERROR_IN_USE'],
  [20, 'NVML_ERROR_MEMORY'],
  [21, 'NVML_ERROR_NO_DATA'],
  [22, 'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED'],
  [23, 'NVML_ERROR_INSUFFICIENT_RESOURCES'],
  [24, 'NVML_ERROR_FREQ_NOT_SUPPORTED'],
  [25, 'NVML_ERROR_ARGUMENT_VERSION_MISMATCH'],
  [26, 'NVML_ERROR_DEPRECATED'],
  [27, 'NVML_ERROR_NOT_READY'],
  [28, 'NVML_ERROR_GPU_NOT_FOUND'],
  [29, 'NVML_ERROR_INVALID_STATE'],
  [30, 'NVML_ERROR_RESET_TYPE_NOT_SUPPORTED'],
  [999, 'NVML_ERROR_UNKNOWN'],
];

describe('NVML return names', () => {
  const { returnName } = addon().nvml;

  it.each(NVIDIA_RETURNS)('code %i is %s', (code, name) => {
    expect(returnName(code)).toBe(name);
  });

  it('names a code no header has by its number, so nothing is mislabelled', () => {
    expect(returnName(31)).toBe('NVML_ERROR_CODE_31');
    expect(returnName(-1)).toBe('NVML_ERROR_CODE_-1');
  });
});
