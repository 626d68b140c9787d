#pragma once
// Process liveness by pid + start time, so a pid the kernel reused for another process is never
// mistaken for the process that registered it. Any thread may call these (no shared state).
#include <sys/types.h>

#include <cstdint>

namespace gpu_arbiter::host {

// Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22), or 0 when the
// process does not exist (or /proc cannot be read).
uint64_t ProcessStartTime(pid_t pid);

// True when a process with this pid exists and started at `start_time`.
bool ProcessAlive(pid_t pid, uint64_t start_time);

}  // namespace gpu_arbiter::host
