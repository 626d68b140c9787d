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
};

// Blocks until locked (the ledger lock is only ever held for microseconds).
LockOutcome LockRobust(pthread_mutex_t* m);

// After repairing state guarded by an owner-died mutex the caller holds.
void MarkConsistent(pthread_mutex_t* m);

}  // namespace gpu_arbiter::host
