# Allocates MIB mebibytes with torch on the first visible GPU, prints one JSON line
# {"event": "holding", ...}, holds it SECONDS (or until stdin closes with SECONDS=0), then prints
# {"event": "released", ...} and exits. Used by test/gpu/*.test.ts as the real GPU work.
import json, os, sys, time

import torch

mib, seconds = int(sys.argv[1]), float(sys.argv[2])
x = torch.empty(mib * 1024 * 1024, dtype=torch.uint8, device="cuda")
x.fill_(1)  # touch it: the memory is really in use
torch.cuda.synchronize()
print(json.dumps({
    "event": "holding",
    "pid": os.getpid(),
    "at": time.time(),
    "device": torch.cuda.get_device_name(0),
    "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
    "devices": torch.cuda.device_count(),
}), flush=True)
if seconds > 0:
    time.sleep(seconds)
else:
    sys.stdin.read()
del x
print(json.dumps({"event": "released", "pid": os.getpid(), "at": time.time()}), flush=True)
