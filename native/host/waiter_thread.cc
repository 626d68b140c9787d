// Picking grants up. A granter wakes the waiting JS thread's loop directly where it can (one
// datagram, direct_wake.h): the loop then takes its own thread's grants (DeliverToLoop). Where it
// cannot, it wakes the waiter thread: one per process per mapped ledger, shared by every JS
// environment of the process (main thread and worker_threads). It sleeps on this process's futex
// word in the shared ledger and, when woken, picks up every grant other processes (or threads)
// made for our waiters and hands each to the owning handle's ThreadSafeFunction. Waiting
// therefore never blocks an event loop and never occupies a libuv threadpool thread.
//
// While this process has waiters queued, the waiter thread's sleep is bounded by kPollMs and each
// timeout runs a sweep: it revokes holds past their revokeAfterMs, and reclaims dead holders the
// holder watcher (holder_watch.cc) does not watch (it watches at most kMaxWatch processes, and
// none where futex_waitv is missing). With no waiters it sleeps without a timeout.
#include <algorithm>
#include <cerrno>
#include <chrono>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

namespace {
constexpr int kPollMs = 10;  // a SIGKILLed holder is reclaimed within ~10 ms (docs/host-ledger.md)
// After the last waiter left, keep the poll cadence this long before sleeping without a timeout:
// a process that queues often (a busy lock) then never has to kick its own thread awake.
constexpr auto kLinger = std::chrono::seconds(1);
}  // namespace

// Under the lock. Grants are a stack (Schedule pushes in front): newest first. They are handed
// over in grant order, so promises settle in queue order (priority, then arrival). With
// `thread` set, entries of other threads stay on the lists for their own loops (or this
// process's waiter thread). Each thread's entries have ONE consumer - its loop when it has one
// (DeliverToLoop), else the waiter thread - so they reach JS in ledger order: a grant taken by
// the waiter thread (ThreadSafeFunction) and its revocation taken by the loop could otherwise
// arrive the wrong way round, and the holder would never hear that it lost the hold.
void ProcessLedger::TakeGrantsLocked(uint32_t thread, std::vector<GrantInfo>* grants, const std::vector<uint32_t>* skip,
                                     std::vector<uint32_t>* skipped) {
  auto leave = [&](uint32_t t) {
    if (thread != kNone) return t != thread;
    if (skip == nullptr || std::find(skip->begin(), skip->end(), t) == skip->end()) return false;
    if (skipped != nullptr && std::find(skipped->begin(), skipped->end(), t) == skipped->end()) skipped->push_back(t);
    return true;
  };
  Proc& me = hdr_->procs[proc_];
  const size_t first_grant = grants->size();
  uint32_t* link = &me.granted_head;
  uint32_t wi = *link;
  for (uint32_t guard = 0; wi != kNone && guard < kMaxWaiters; guard++) {
    Waiter& w = WaiterAt(wi);
    if (w.state != kGranted || w.proc != proc_) Corrupt("a grant list entry that is not this process's");
    uint32_t next = w.next_granted;
    if (leave(w.thread)) {
      link = &w.next_granted;
      wi = next;
      continue;
    }
    *link = next;
    if (w.gang > 1) {
      // The lead of an all-or-nothing grant: every member goes up, one after another.
      uint32_t mem[kMaxGang];
      const uint32_t n = GangMembers(wi, mem);
      for (uint32_t k = 0; k < n; k++) {
        const Waiter& x = hdr_->waiters[mem[k]];
        if (x.state != kGranted) Corrupt("a request over several resources is partly granted");
        const Holder& h = HolderAt(x.holder);
        grants->push_back(GrantInfo{x.owner, x.request, x.holder, h.token, h.fence, 0, x.resource, n});
      }
      for (uint32_t k = 0; k < n; k++) FreeWaiter(mem[k]);
      pending_.fetch_sub(static_cast<int>(n));
    } else {
      const Holder& h = HolderAt(w.holder);
      grants->push_back(GrantInfo{w.owner, w.request, w.holder, h.token, h.fence, 0});
      FreeWaiter(wi);
      pending_.fetch_sub(1);
    }
    wi = next;
  }
  if (wi != kNone) Corrupt("a grant list that never ends");
  std::reverse(grants->begin() + static_cast<std::ptrdiff_t>(first_grant), grants->end());
  // Revocations after grants: a grant revoked before we picked it up arrives, then dies.
  link = &me.revoked_head;
  uint32_t hi = *link;
  for (uint32_t guard = 0; hi != kNone && guard < kMaxHolders; guard++) {
    Holder& h = HolderAt(hi);
    if (h.state != kRevoked || h.proc != proc_) Corrupt("a revoke list entry that is not this process's");
    uint32_t next = h.next_revoked;
    if (leave(h.thread)) {
      link = &h.next_revoked;
      hi = next;
      continue;
    }
    grants->push_back(GrantInfo{h.owner, 0, hi, h.token, h.fence, h.lost_reason});
    // Off the list, but the slot stays kRevoked until the JS side has heard (Forget) or the
    // owner releases it: a release racing this notice must not look like a stranger's.
    *link = next;
    h.next_revoked = kNone;
    hi = next;
  }
  if (hi != kNone) Corrupt("a revoke list that never ends");
}

// JS thread of environment `thread`, from its LoopWaker (direct_wake.h): one datagram said a
// grant (or a revocation notice) for this thread is in the ledger.
void ProcessLedger::DeliverToLoop(uint32_t thread, const uv_loop_s* loop) {
  // A handle closed by a callback below may drop the last reference to this ledger.
  std::shared_ptr<ProcessLedger> self = shared_from_this();
  if (corrupt_.load()) return;
  std::vector<GrantInfo> grants;
  try {
    Locked lock(this);
    TakeGrantsLocked(thread, &grants);
  } catch (const LedgerError&) {
    return;  // corrupt or stuck: JS sees the same error on its next call
  }
  WakeCounters().loop_deliveries += grants.size();
  for (const GrantInfo& grant : grants) {
    GrantSink* sink = nullptr;
    {
      std::lock_guard<std::mutex> g(sinks_mu_);
      auto it = sinks_.find(grant.owner);
      if (it != sinks_.end()) {
        // A sink of another loop (it claimed this threadId) is served as the waiter thread does.
        if (it->second->Loop() == loop) {
          sink = it->second;
        } else {
          it->second->Deliver(grant);
        }
      }
    }
    // Only this thread removes its own sinks, so the one found is still there. None: the
    // handle closed, and its ReleaseOwner() freed the hold.
    if (sink != nullptr) sink->DeliverOnLoop(grant);
  }
}

// Runs on the waiter thread, from Open() until ~ProcessLedger().
void ProcessLedger::ThreadMain() {
  Proc& me = hdr_->procs[proc_];
  // Our liveness beacon: held for as long as we are registered. If the process dies the kernel
  // marks it owner-died (robust futex list), and other processes see that with one trylock.
  // Taken under the ledger lock (other processes only trylock it under that lock, so it is free
  // unless the slot was damaged), with a trylock: a damaged mutex is never waited on.
  bool beacon = false;
  try {
    Locked lock(this);
    if (!RobustMutexTypeIntact(&me.alive)) Corrupt("this process's liveness mutex is damaged");
    int rc = pthread_mutex_trylock(&me.alive);
    if (rc == EOWNERDEAD) {
      pthread_mutex_consistent(&me.alive);
      rc = 0;
    }
    if (rc != 0) Corrupt("this process's liveness mutex is held by another");
    beacon = true;
  } catch (const LedgerError&) {
    // Corrupt or stuck: without the beacon, other processes judge us by pid + start time.
  }
  auto last_sweep = std::chrono::steady_clock::now();
  auto last_pending = last_sweep;
  std::vector<GrantInfo> grants;
  std::vector<uint32_t> loops, skipped;
  Wakes wake;
  while (!stop_.load()) {
    uint32_t seen = me.wake.load(std::memory_order_acquire);
    bool have = __atomic_load_n(&me.granted_head, __ATOMIC_ACQUIRE) != kNone ||
                __atomic_load_n(&me.revoked_head, __ATOMIC_ACQUIRE) != kNone;
    auto now = std::chrono::steady_clock::now();
    bool poll = !no_poll_ && pending_.load() > 0 && now - last_sweep >= std::chrono::milliseconds(kPollMs);
    // A corrupt ledger (Corrupt()) is never read again: the thread only sleeps until stopped.
    if ((have || poll) && !corrupt_.load()) {
      loops = LoopThreads();  // before the ledger lock: loops_mu_ is never taken under it
      try {
        Locked lock(this);
        if (poll) {
          Sweep(&wake);
          last_sweep = now;
          WakeCounters().poll_sweeps++;
        }
        TakeGrantsLocked(kNone, &grants, &loops, &skipped);
      } catch (const LedgerError&) {
        // Corrupt, unrecoverable, or the lock is stuck: JS sees the same error on its next call.
        // Keep the thread alive (it holds `alive`); a corrupt ledger is not read again.
      }
      WakeAll(wake);
      wake.clear();
      // Entries of threads with a loop of their own: that loop takes them (after a stop, or a
      // wake-up it missed). One that detached since takes nothing more: we take them ourselves.
      for (uint32_t t : skipped) {
        if (sender_ && sender_->Send(wake_key_, t)) continue;
        try {
          Locked lock(this);
          TakeGrantsLocked(t, &grants);
        } catch (const LedgerError&) {
        }
      }
      skipped.clear();
      if (!grants.empty()) {
        WakeCounters().thread_deliveries += grants.size();
        std::lock_guard<std::mutex> g(sinks_mu_);
        for (const GrantInfo& grant : grants) {
          auto it = sinks_.find(grant.owner);
          // No sink: the handle closed after we picked the grant up; its ReleaseOwner() frees
          // the hold (it runs after RemoveSink), so there is nothing to do here.
          if (it != sinks_.end()) it->second->Deliver(grant);
        }
        grants.clear();
      }
    }
    if (stop_.load()) break;
    if (pending_.load() > 0) last_pending = std::chrono::steady_clock::now();
    int timeout = kPollMs;
    if (std::chrono::steady_clock::now() - last_pending > kLinger) {
      // Announce the deep sleep, then re-check: Acquire() increments pending_ before it reads
      // deep_sleep_, so either it sees true and kicks us, or we see its waiter here.
      deep_sleep_.store(true);
      if (pending_.load() == 0) timeout = -1;
    }
    if (corrupt_.load() || no_poll_) timeout = -1;  // nothing to poll: only a wake or stop_ ends the wait
    FutexWait(&me.wake, seen, timeout);
    deep_sleep_.store(false);
  }
  // Unlocked only as locking left it: glibc's unlock writes where the mutex's own list links
  // point, and another process may have damaged them. Left locked, the kernel releases it as
  // this thread exits (robust list), and the slot is free for the next registrant either way.
  if (beacon && SoleHeldRobustMutexIntact(&me.alive)) pthread_mutex_unlock(&me.alive);
}

}  // namespace gpu_arbiter::host
