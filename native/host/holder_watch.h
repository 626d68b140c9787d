#pragma once
// Watching another process's `alive` robust mutex (Proc::alive) without ever locking it.
//
// The word of a robust mutex is kernel ABI (linux/futex.h): the owner's TID, plus FUTEX_WAITERS
// when someone sleeps on it, plus FUTEX_OWNER_DIED once the kernel found its owner dead. When a
// thread dies holding it, the kernel (exit_robust_list) sets FUTEX_OWNER_DIED and, if
// FUTEX_WAITERS is set, wakes a sleeper at once. A watcher therefore sets FUTEX_WAITERS and
// sleeps on the word: it learns of the death at kernel speed, and never owns the mutex (so it
// cannot keep it from its process, deadlock with the ledger lock, or be caught holding it when
// the slot is reused). Nobody ever blocks in pthread_mutex_lock on an alive mutex (liveness checks
// trylock it), so the bit only ever means "watchers sleep here".
#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace gpu_arbiter::host {

// The futex word of *m, or nullptr where the C library's mutex layout is not known (then nobody
// is watched, and the waiter thread's poll reclaims dead holders).
uint32_t* AliveWord(pthread_mutex_t* m);

// The owner of *word died (the kernel says so), or nobody owns it.
bool AliveWordDead(uint32_t word);
bool AliveWordHeld(uint32_t word);

// Sets FUTEX_WAITERS on a held, live word; returns the value to sleep on, or 0 when the word is
// not held or its owner died (nothing to sleep on: look at the ledger now).
uint32_t MarkWatched(uint32_t* word);

// Wakes every process sleeping on *word (after a hold of its process ended, or the process was
// reclaimed): they look again at what to watch. force=false: only if someone marked it.
void WakeWatchers(uint32_t* word, bool force);

// Sleeps until *ctl != ctl_seen, one of words[i] != values[i] (or is woken), or timeout_ms.
// Uses futex_waitv (Linux 5.16+); where it is missing or refused, sleeps on words[0] (then ctl is not seen until the
// timeout, which is capped at kFallbackWaitMs). Any spurious return is fine for the caller.
void WaitAny(std::atomic<uint32_t>* ctl, uint32_t ctl_seen, uint32_t* const* words, const uint32_t* values,
             uint32_t n, int timeout_ms);
constexpr int kFallbackWaitMs = 100;
// Test hook (GPU_ARBITER_TEST_NO_WAITV): behave as on a kernel without futex_waitv.
void DisableFutexWaitv();

}  // namespace gpu_arbiter::host
