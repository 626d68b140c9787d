#include "host/robust_lock.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

LockOutcome LockRobustFor(pthread_mutex_t* m, int timeout_ms) {
  int rc = pthread_mutex_trylock(m);
  if (rc == EBUSY) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);  // pthread_mutex_timedlock's clock
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    do {
      rc = pthread_mutex_timedlock(m, &until);
    } while (rc == EINTR);
  }
  if (rc == 0) return LockOutcome::kLocked;
  if (rc == EOWNERDEAD) return LockOutcome::kOwnerDied;
  if (rc == ETIMEDOUT) return LockOutcome::kTimedOut;
  return LockOutcome::kUnrecoverable;
}

void MarkConsistent(pthread_mutex_t* m) { pthread_mutex_consistent(m); }

bool RobustMutexTypeIntact(const pthread_mutex_t* m) {
#ifdef __GLIBC__
  // The type InitRobustMutex gives, read from a mutex made the same way (it includes flags glibc
  // adds itself, such as process-shared).
  static const int expected = [] {
    pthread_mutex_t probe;
    InitRobustMutex(&probe);
    int kind = probe.__data.__kind;
    pthread_mutex_destroy(&probe);
    return kind;
  }();
  return __atomic_load_n(&m->__data.__kind, __ATOMIC_RELAXED) == expected;
#else
  (void)m;
  return true;
#endif
}

bool SoleHeldRobustMutexIntact(const pthread_mutex_t* m) {
#ifdef __GLIBC__
  // The thread's robust list head, as registered with the kernel. A robust mutex held alone is
  // linked to it both ways.
  void* head = nullptr;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &len) != 0) return false;
  const auto& d = m->__data;
  return RobustMutexTypeIntact(m) && __atomic_load_n(&d.__owner, __ATOMIC_RELAXED) == gettid() &&
         __atomic_load_n(&d.__list.__next, __ATOMIC_RELAXED) == head &&
         __atomic_load_n(&d.__list.__prev, __ATOMIC_RELAXED) == head;
#else
  (void)m;
  return true;
#endif
}

}  // namespace gpu_arbiter::host
