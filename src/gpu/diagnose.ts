// Why NVML is not usable, and the fix that applies to that case: `status`, `doctor` and the
// README's troubleshooting say the same thing. A missing library, a library whose kernel driver
// is not loaded, and a library that does not match the loaded driver are different problems:
// pointing GPU_ARBITER_NVML_LIB elsewhere fixes only the first and the last.
import type { GpuSnapshot } from './types';

export interface NvmlDiagnosis {
  /** What is wrong, naming the library that was opened where one was. */
  cause: string;
  /** What to do about it. */
  fix: string;
}

const DRIVER_FIX =
  'load the NVIDIA kernel driver (modprobe nvidia; `dmesg | grep -i nvidia` shows why it did not load, often a ' +
  'driver built for another kernel); in a container, start it with the NVIDIA container runtime (docker run --gpus all) ' +
  'so the driver and /dev/nvidia* are passed in. GPU_ARBITER_NVML_LIB does not help: the library is not what is missing';

/** Null when NVML is available; otherwise the cause and the fix. */
export function diagnoseNvml(s: GpuSnapshot): NvmlDiagnosis | null {
  if (s.available) return null;
  const reason = s.unavailableReason ?? 'unknown reason';
  const lib = s.libraryPath;
  if (lib === null) {
    if (s.seq === 0) return { cause: reason, fix: 'start the monitor (GpuMonitor.create) and read it after its first sample' };
    return {
      cause: `no NVML library could be opened: ${reason}`,
      fix:
        'install the NVIDIA driver (in a container: the NVIDIA container runtime, docker run --gpus all), or set ' +
        'GPU_ARBITER_NVML_LIB (--nvml-lib) to the libnvidia-ml.so.1 of the installed driver',
    };
  }
  switch (s.initError) {
    case null:
      return {
        cause: `${lib} is not a usable NVML: ${reason}`,
        fix: "set GPU_ARBITER_NVML_LIB (--nvml-lib) to NVIDIA's libnvidia-ml.so.1 of the installed driver",
      };
    case 'NVML_ERROR_DRIVER_NOT_LOADED':
      return { cause: `${lib} loaded, but the NVIDIA kernel driver is not loaded (${reason})`, fix: DRIVER_FIX };
    case 'NVML_ERROR_LIB_RM_VERSION_MISMATCH':
      return {
        cause: `${lib} does not match the loaded kernel driver (${reason}); /proc/driver/nvidia/version names the loaded one`,
        fix:
          'after a driver upgrade, reboot (or reload the nvidia module); or set GPU_ARBITER_NVML_LIB to the ' +
          "libnvidia-ml.so.1 of the loaded driver's version",
      };
    case 'NVML_ERROR_NO_PERMISSION':
      return {
        cause: `${lib} loaded, but this user may not open the GPU devices (${reason})`,
        fix: "give this user access to /dev/nvidiactl and /dev/nvidia* (their group, often 'video'), or pass the devices into the container",
      };
    default:
      return {
        cause: `${lib} loaded, but NVML failed: ${reason}`,
        fix: 'run nvidia-smi, which fails the same way and may say more; check dmesg for NVIDIA (Xid) errors',
      };
  }
}
