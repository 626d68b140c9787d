// ProcessLedger, part 3 of 6: holder and waiter slots, their lists, tokens and wake-ups. Every
// function here runs with the ledger lock held.
#include <sys/random.h>

#include <cstring>

#include "host/futex_wake.h"
#include "host/holder_watch.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

void ProcessLedger::WakeAll(const Wakes& wake) {
  for (size_t i = 0; i < wake.size(); i++) {
    const WakeTarget& t = wake[i];
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen = seen || wake[j] == t;
    if (seen || t.proc >= kMaxProcs) continue;
    Proc& p = hdr_->procs[t.proc];
    switch (t.kind) {
      case WakeTarget::kGrant:
        // The waiting thread's loop, directly (one wake-up); else its process's waiter thread.
        if (sender_ && sender_->Send(__atomic_load_n(&p.wake_key, __ATOMIC_ACQUIRE), t.thread)) {
          WakeCounters().direct_sends++;
          break;
        }
        [[fallthrough]];
      case WakeTarget::kFutex:
        FutexBumpAndWake(&p.wake);
        WakeCounters().futex_wakes++;
        break;
      case WakeTarget::kWatchers:
      case WakeTarget::kWatchersAll:
        if (RobustMutexTypeIntact(&p.alive)) WakeWatchers(AliveWord(&p.alive), t.kind == WakeTarget::kWatchersAll);
        break;
    }
  }
}

// Every ProcessLedger (Open() and Peek(), ledger_open.cc) seeds the generator before its first
// grant: xorshift from 0 stays 0, and NextToken() would never return.
void ProcessLedger::SeedTokens() {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = 0;
  rng_ = seed ^ (static_cast<uint64_t>(pid_) << 32) ^ static_cast<uint64_t>(WallMs()) ^ 0x9E3779B97F4A7C15ULL;
  if (rng_ == 0) rng_ = 0x9E3779B97F4A7C15ULL;
}

uint64_t ProcessLedger::NextToken() {
  // xorshift64*: cheap, unpredictable enough to catch stale and forged releases (it is a
  // capability check against mistakes, not against a hostile process that can map the ledger).
  uint64_t t;
  do {
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    t = rng_ * 0x2545F4914F6CDD1DULL;
  } while (t == 0);
  return t;
}

// `r` and `proc` are valid indices (callers checked them).
uint32_t ProcessLedger::NewHolder(uint32_t r, uint64_t units, int32_t priority, uint32_t proc, int32_t pid,
                                  uint32_t owner, uint32_t thread, const char* label, uint64_t revoke_after_ms) {
  uint32_t limit = hdr_->holders_hwm < kMaxHolders ? hdr_->holders_hwm + 1 : kMaxHolders;
  for (uint32_t i = 0; i < limit; i++) {
    Holder& h = hdr_->holders[i];
    if (h.state != kFree) continue;
    Resource& res = ResAt(r);
    h.resource = r;
    h.proc = proc;
    h.owner = owner;
    h.thread = thread;
    h.priority = priority;
    h.pid = pid;
    h.units = units;
    h.token = NextToken();
    h.fence = res.fence + 1;
    h.since_ms = WallMs();
    h.revoke_at_ms = revoke_after_ms == 0 ? 0 : MonoMs() + revoke_after_ms;
    if (h.revoke_at_ms != 0 && (hdr_->next_expiry_ms == 0 || h.revoke_at_ms < hdr_->next_expiry_ms)) {
      hdr_->next_expiry_ms = h.revoke_at_ms;
    }
    memcpy(h.label, label, kLabelMax);
    h.label[kLabelMax - 1] = '\0';
    res.fence = h.fence;
    __atomic_store_n(&h.state, kHeld, __ATOMIC_RELEASE);
    res.used += units;  // derived; Repair recomputes it if we die between these two lines
    hdr_->grants++;
    if (i >= hdr_->holders_hwm) hdr_->holders_hwm = i + 1;
    return i;
  }
  return kNone;
}

void ProcessLedger::FreeHolder(uint32_t i) {
  Holder& h = HolderAt(i);
  Resource& res = ResAt(h.resource);
  __atomic_store_n(&h.state, kFree, __ATOMIC_RELEASE);
  res.used = res.used >= h.units ? res.used - h.units : 0;
  while (hdr_->holders_hwm > 0 && hdr_->holders[hdr_->holders_hwm - 1].state == kFree) {
    hdr_->holders_hwm--;
  }
}

// A free process slot for (pid, start_time), its lists empty and its `alive` mutex fresh (a
// free slot's is held by nobody, see ReclaimProc); kNone when all are taken.
uint32_t ProcessLedger::ClaimProcSlot(int32_t pid, uint64_t start_time, uint64_t wake_key) {
  for (uint32_t i = 0; i < kMaxProcs; i++) {
    Proc& p = hdr_->procs[i];
    if (p.state != kFree) continue;
    p.pid = pid;
    p.start_time = start_time;
    p.generation++;
    p.granted_head = kNone;
    p.revoked_head = kNone;
    p.wake_key = wake_key;
    InitRobustMutex(&p.alive);
    __atomic_store_n(&p.state, kHeld, __ATOMIC_RELEASE);
    return i;
  }
  return kNone;
}

void ProcessLedger::FreeWaiter(uint32_t i) {
  __atomic_store_n(&WaiterAt(i).state, kFree, __ATOMIC_RELEASE);
  // Keep the scan bound tight: after a burst of waiters, Schedule() must not keep scanning it.
  while (hdr_->waiters_hwm > 0 && hdr_->waiters[hdr_->waiters_hwm - 1].state == kFree) {
    hdr_->waiters_hwm--;
  }
}

void ProcessLedger::UnlinkRevoked(uint32_t hi) {
  Proc& p = ProcAt(HolderAt(hi).proc);
  uint32_t* link = &p.revoked_head;
  for (uint32_t guard = 0; *link != kNone && guard < kMaxHolders; guard++) {
    if (*link == hi) {
      *link = hdr_->holders[hi].next_revoked;
      return;
    }
    link = &HolderAt(*link).next_revoked;
  }
}

void ProcessLedger::DropHolder(uint32_t hi) {
  Holder& h = HolderAt(hi);
  if (h.state == kHeld) {
    FreeHolder(hi);
    return;
  }
  if (h.state != kRevoked) return;
  UnlinkRevoked(hi);  // its units were freed when it was revoked
  __atomic_store_n(&h.state, kFree, __ATOMIC_RELEASE);
  while (hdr_->holders_hwm > 0 && hdr_->holders[hdr_->holders_hwm - 1].state == kFree) {
    hdr_->holders_hwm--;
  }
}

void ProcessLedger::FillWaiter(Waiter& w, const WaiterFields& f) {
  w.resource = f.resource;
  w.proc = proc_;
  w.owner = f.owner;
  w.thread = f.thread;
  w.priority = f.priority;
  w.pid = pid_;
  w.holder = kNone;
  w.next_granted = kNone;
  w.gang = f.gang;
  w.units = f.units;
  w.seq = f.seq;
  w.request = f.request;
  w.since_ms = f.since_ms;
  w.revoke_after_ms = f.revoke_after_ms;
  memcpy(w.label, f.label, kLabelMax);
}

uint32_t ProcessLedger::NewWaiterSlot() {
  uint32_t limit = hdr_->waiters_hwm < kMaxWaiters ? hdr_->waiters_hwm + 1 : kMaxWaiters;
  for (uint32_t i = 0; i < limit; i++) {
    if (hdr_->waiters[i].state == kFree) {
      if (i >= hdr_->waiters_hwm) hdr_->waiters_hwm = i + 1;
      return i;
    }
  }
  return kNone;
}

void ProcessLedger::UnlinkGranted(uint32_t w) {
  Proc& p = ProcAt(WaiterAt(w).proc);
  uint32_t* link = &p.granted_head;
  for (uint32_t guard = 0; *link != kNone && guard < kMaxWaiters; guard++) {
    if (*link == w) {
      *link = hdr_->waiters[w].next_granted;
      return;
    }
    link = &WaiterAt(*link).next_granted;
  }
}

}  // namespace gpu_arbiter::host
