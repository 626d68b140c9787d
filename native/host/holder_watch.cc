// The holder watcher: one thread per process per mapped ledger, started with the waiter thread.
// While this process has waiters it sleeps on the `alive` words of the processes holding what
// they wait for (holder_watch.h says why that is safe), so when one of them dies the kernel wakes
// it at once and it reclaims that process (Sweep) and grants, with no polling. A holder that
// ends its hold normally wakes its watchers (WakeTarget::kWatchers after every release, revoke,
// cancel or reclaim), and they pick their targets again, at most once per kRepickMs while holds
// change hands quickly (so a busy lock costs a few hundred watcher wake-ups a second, not one per
// handoff); a death still wakes them at once.
#include "host/holder_watch.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/robust_lock.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // the same number on every architecture (generic syscall table)
#endif

namespace gpu_arbiter::host {

namespace {
constexpr uint32_t kMaxWatch = 8;  // holder processes watched at once; the rest: the poll
constexpr auto kRepick = std::chrono::milliseconds(2);
// With nothing to watch (what we wait for is held by this process, or not held at all), or
// after an error: look again this often, in case a holder we could watch turned up unseen.
constexpr int kBlindMs = 50;
// Safety net: a target's word may change without a wake (a slot reused): look again this often.
constexpr int kWatchMs = 1000;

struct FutexWaitv {  // struct futex_waitv of linux/futex.h (5.16+), declared for older headers
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32; shared (no FUTEX2_PRIVATE)

std::atomic<bool> g_no_waitv{false};  // futex_waitv refused once: never tried again
}  // namespace

void DisableFutexWaitv() { g_no_waitv.store(true); }

uint32_t* AliveWord(pthread_mutex_t* m) {
#ifdef __GLIBC__
  return reinterpret_cast<uint32_t*>(&m->__data.__lock);
#else
  (void)m;
  return nullptr;
#endif
}

bool AliveWordDead(uint32_t word) { return (word & FUTEX_OWNER_DIED) != 0; }
bool AliveWordHeld(uint32_t word) { return (word & FUTEX_TID_MASK) != 0; }

uint32_t MarkWatched(uint32_t* word) {
  uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  for (;;) {
    if (!AliveWordHeld(v) || AliveWordDead(v)) return 0;
    if ((v & FUTEX_WAITERS) != 0) return v;
    if (__atomic_compare_exchange_n(word, &v, v | FUTEX_WAITERS, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      return v | FUTEX_WAITERS;
    }
  }
}

void WakeWatchers(uint32_t* word, bool force) {
  if (word == nullptr) return;
  uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  if (!force && (v & FUTEX_WAITERS) == 0) return;  // nobody watches: no syscall
  // Clear the mark first, so the next release costs no syscall unless someone marks it again.
  // (A failed exchange only means the word moved: the wake below covers it.)
  if ((v & FUTEX_WAITERS) != 0) {
    __atomic_compare_exchange_n(word, &v, v & ~FUTEX_WAITERS, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void WaitAny(std::atomic<uint32_t>* ctl, uint32_t ctl_seen, uint32_t* const* words, const uint32_t* values,
             uint32_t n, int timeout_ms) {
  if (n == 0) {
    FutexWait(ctl, ctl_seen, timeout_ms);
    return;
  }
  if (!g_no_waitv.load(std::memory_order_relaxed)) {
    FutexWaitv w[kMaxWatch + 1];
    w[0] = FutexWaitv{ctl_seen, reinterpret_cast<uint64_t>(ctl), kFutex2SizeU32, 0};
    for (uint32_t i = 0; i < n && i < kMaxWatch; i++) {
      w[i + 1] = FutexWaitv{values[i], reinterpret_cast<uint64_t>(words[i]), kFutex2SizeU32, 0};
    }
    struct timespec until;  // futex_waitv takes an absolute time
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    long rc = syscall(SYS_futex_waitv, w, (n < kMaxWatch ? n : kMaxWatch) + 1, 0, &until, CLOCK_MONOTONIC);
    // ENOSYS: an older kernel; EPERM: a seccomp profile that does not know the call; EINVAL:
    // flags it does not take. Anything else (EAGAIN, ETIMEDOUT, EINTR) is a normal return.
    if (rc >= 0 || (errno != ENOSYS && errno != EPERM && errno != EINVAL)) return;
    g_no_waitv.store(true);
  }
  // One word only: the first target, and a bounded sleep so ctl (stop, new waiters) is seen.
  struct timespec ts;
  int ms = timeout_ms < kFallbackWaitMs ? timeout_ms : kFallbackWaitMs;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = static_cast<long>(ms % 1000) * 1000000L;
  syscall(SYS_futex, words[0], FUTEX_WAIT, values[0], &ts, nullptr, 0);
}

// Under the lock (Sweep ran just before, so every process found dead is reclaimed already).
uint32_t ProcessLedger::PickWatchTargets(uint32_t max, uint32_t** words, uint32_t* values) {
  bool want[kMaxResources] = {};
  bool any = false;
  for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
    const Waiter& w = hdr_->waiters[i];
    if (w.state != kWaiting || w.proc != proc_ || w.resource >= kMaxResources) continue;
    want[w.resource] = true;
    any = true;
  }
  if (!any) return 0;
  bool picked[kMaxProcs] = {};
  uint32_t n = 0;
  for (uint32_t i = 0; i < hdr_->holders_hwm && n < max; i++) {
    const Holder& h = hdr_->holders[i];
    if (h.state != kHeld || h.resource >= kMaxResources || !want[h.resource]) continue;
    if (h.proc >= kMaxProcs || h.proc == proc_ || picked[h.proc]) continue;
    Proc& p = hdr_->procs[h.proc];
    if (p.state != kHeld || !RobustMutexTypeIntact(&p.alive)) continue;
    uint32_t* word = AliveWord(&p.alive);
    if (word == nullptr) return 0;
    uint32_t v = MarkWatched(word);
    if (v == 0) continue;  // not held: pid + start time judge it (the Sweep did)
    picked[h.proc] = true;
    words[n] = word;
    values[n] = v;
    n++;
  }
  return n;
}

// The watcher thread, from Open() until ~ProcessLedger().
void ProcessLedger::WatchMain() {
  using Clock = std::chrono::steady_clock;
  auto last_pick = Clock::time_point{};
  uint32_t* words[kMaxWatch];
  uint32_t values[kMaxWatch];
  while (!stop_.load()) {
    const uint32_t ctl = watch_ctl_.load();
    if (pending_.load() <= 0 || corrupt_.load()) {
      // Announce the idle sleep, then re-check: Acquire() counts its waiter before it reads
      // watch_idle_, so either it kicks us or we see its waiter here.
      watch_idle_.store(true);
      if ((pending_.load() <= 0 || corrupt_.load()) && !stop_.load()) FutexWait(&watch_ctl_, ctl, -1);
      watch_idle_.store(false);
      continue;
    }
    const auto since = Clock::now() - last_pick;
    if (since < kRepick) {
      // Holds are changing hands quickly: follow them at this pace (a death is still seen at
      // once below, by the kernel's wake on the word we sleep on next).
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(kRepick - since).count() + 1;
      FutexWait(&watch_ctl_, ctl, static_cast<int>(left));
      continue;
    }
    uint32_t n = 0;
    Wakes wake;
    uint64_t reclaimed = 0;
    bool ok = true;
    try {
      Locked lock(this);
      const uint64_t before = hdr_->reclaimed_procs;
      Sweep(&wake);
      reclaimed = hdr_->reclaimed_procs - before;
      n = PickWatchTargets(kMaxWatch, words, values);
    } catch (const LedgerError&) {
      ok = false;  // corrupt or stuck: JS sees it on its next call; look again later
    }
    // Counted before the wake-ups: the grants they carry may be read (with the counters) at once.
    if (reclaimed > 0) WakeCounters().watch_reclaims += reclaimed;
    WakeAll(wake);
    last_pick = Clock::now();
    if (stop_.load()) break;
    WaitAny(&watch_ctl_, ctl, words, values, n, n == 0 || !ok ? kBlindMs : kWatchMs);
    // A watched owner died: look now, whatever the pace.
    for (uint32_t i = 0; i < n; i++) {
      if (AliveWordDead(__atomic_load_n(words[i], __ATOMIC_ACQUIRE))) last_pick = Clock::time_point{};
    }
  }
}

}  // namespace gpu_arbiter::host
