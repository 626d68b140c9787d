#include "host/robust_lock.h"

#include <cerrno>

namespace gpu_arbiter::host {

int InitRobustMutex(pthread_mutex_t* m) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc != 0) return rc;
  rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (rc == 0) rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  if (rc == 0) rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return rc;
}

LockOutcome LockRobust(pthread_mutex_t* m) {
  int rc = pthread_mutex_lock(m);
  if (rc == 0) return LockOutcome::kLocked;
  if (rc == EOWNERDEAD) return LockOutcome::kOwnerDied;
  return LockOutcome::kUnrecoverable;
}

void MarkConsistent(pthread_mutex_t* m) { pthread_mutex_consistent(m); }

}  // namespace gpu_arbiter::host
