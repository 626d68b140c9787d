# pynvml's view of every GPU, as one JSON object on stdout: the independent reading that
# test/gpu/pynvml-compare.test.ts holds the monitor's figures against.
import json

import pynvml as n

n.nvmlInit()
try:
    out = {
        "driverVersion": n.nvmlSystemGetDriverVersion(),
        "cudaDriverVersion": n.nvmlSystemGetCudaDriverVersion(),
        "devices": [],
    }
    for i in range(n.nvmlDeviceGetCount()):
        h = n.nvmlDeviceGetHandleByIndex(i)
        mem = n.nvmlDeviceGetMemoryInfo(h)  # v1: used includes the driver-reserved share
        try:
            limit = n.nvmlDeviceGetEnforcedPowerLimit(h)
        except n.NVMLError:
            limit = None
        out["devices"].append({
            "index": i,
            "name": n.nvmlDeviceGetName(h),
            "uuid": n.nvmlDeviceGetUUID(h),
            "total": mem.total,
            "used": mem.used,
            "powerLimitMw": limit,
        })
    print(json.dumps(out))
finally:
    n.nvmlShutdown()
