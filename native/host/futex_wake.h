#pragma once
// Wake-ups across processes through a futex on a word in the shared mapping (not FUTEX_PRIVATE:
// the key is the shared page, so any process mapping the ledger can wake any other). A futex
// holds no state of its own, so a process dying mid-wait leaves nothing to clean up.
#include <atomic>
#include <cstdint>

namespace gpu_arbiter::host {

// Sleeps while *word == expected, at most timeout_ms (-1: no limit). Returns on wake, timeout,
// signal or when the word already differs. Runs on the waiter thread.
void FutexWait(std::atomic<uint32_t>* word, uint32_t expected, int timeout_ms);

// Bumps *word and wakes every sleeper on it. Any thread, never under the ledger lock (so the
// woken thread does not immediately block on a lock we still hold).
void FutexBumpAndWake(std::atomic<uint32_t>* word);

}  // namespace gpu_arbiter::host
