# Asks torch for more memory than the GPU has: exits 3 on CUDA's out-of-memory error (what
# test/gpu/oom-cooldown.test.ts reports to the arbiter), 0 if the allocation somehow succeeded.
import sys

import torch

total = torch.cuda.get_device_properties(0).total_memory
try:
    torch.empty(2 * total, dtype=torch.uint8, device="cuda")
except torch.cuda.OutOfMemoryError as err:
    print(f"oom: {str(err).splitlines()[0]}", flush=True)
    sys.exit(3)
sys.exit(0)
