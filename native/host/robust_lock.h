#pragma once
// Robust, process-shared pthread mutexes living in the shared ledger. If a process dies holding
// one, the kernel marks it owner-died and the next locker gets EOWNERDEAD: it repairs what the
// dead owner may have left half-written, then calls pthread_mutex_consistent. Any thread.
#include <pthread.h>

namespace gpu_arbiter::host {

// Initializes *m as PTHREAD_PROCESS_SHARED + PTHREAD_MUTEX_ROBUST. Returns 0 or an errno.
int InitRobustMutex(pthread_mutex_t* m);

enum class LockOutcome {
  kLocked,         // normal
  kOwnerDied,      // locked, but the previous owner died inside: repair, then MarkConsistent
  kUnrecoverable,  // someone unlocked an owner-died mutex without repairing it: not locked
  kTimedOut,       // still held by someone else after the timeout: not locked
};

// Blocks until locked (the ledger lock is only ever held for microseconds).
LockOutcome LockRobust(pthread_mutex_t* m);

// As LockRobust, but gives up after `timeout_ms` (kTimedOut): a holder that is stopped or hung
// inside the lock, or a lock word a corrupt ledger left behind, never blocks the caller for ever.
// Uncontended, it costs what LockRobust does (one trylock).
LockOutcome LockRobustFor(pthread_mutex_t* m, int timeout_ms);

// After repairing state guarded by an owner-died mutex the caller holds.
void MarkConsistent(pthread_mutex_t* m);

// True where *m still has the type InitRobustMutex gave it. glibc reads a mutex's type from the
// mutex itself, so damage to a shared ledger could steer pthread_mutex_* into another type's
// code (priority-protect asserts and aborts the process): check before any call on a mutex that
// lives in shared memory and was not just checked. Always true on other C libraries.
bool RobustMutexTypeIntact(const pthread_mutex_t* m);

// True where the calling thread can unlock *m, a robust mutex it holds and the only one it
// holds, without glibc writing through damaged memory: its type, owner and robust-list links are
// still the ones locking it wrote (the unlock unlinks it by those links). Always true elsewhere.
bool SoleHeldRobustMutexIntact(const pthread_mutex_t* m);

}  // namespace gpu_arbiter::host
