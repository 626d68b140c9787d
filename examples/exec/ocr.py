#!/usr/bin/env python3
"""Stands in for a GPU program run under `gpu-arbiter exec` (see README, "Any program under a
lease"): it prints what it was given - its arguments and the GPU environment exec set.

A real one would simply start CUDA work: CUDA_VISIBLE_DEVICES holds the UUID of the GPU the lease
is for, so `torch.device("cuda:0")` (or any CUDA program's device 0) is that GPU and no other.
GPU_ARBITER_FENCING_TOKEN increases with every grant of that GPU: pass it to storage that must
refuse a writer whose lease was taken away.
"""
import os
import sys


def main() -> int:
    inputs = sys.argv[1:]
    gpu = os.environ.get("CUDA_VISIBLE_DEVICES", "(none)")
    order = os.environ.get("CUDA_DEVICE_ORDER", "(unset)")
    print(f"ocr.py: {' '.join(inputs) or '(no input)'} on CUDA_VISIBLE_DEVICES={gpu} (CUDA_DEVICE_ORDER={order})")
    print(f"ocr.py: lease {os.environ.get('GPU_ARBITER_LEASE_ID')}, fencing token {os.environ.get('GPU_ARBITER_FENCING_TOKEN')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
