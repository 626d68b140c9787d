// ProcessLedger, part 4 of 6: the granter. Acquire, cancel, release, revoke and the scheduler
// that grants waiters inside the ledger whenever units free up. Every slot index read from the
// shared tables goes through the checked accessors (ResAt, ProcAt, HolderAt, WaiterAt).
#include <cstring>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"

namespace gpu_arbiter::host {

bool ProcessLedger::Fits(const Resource& r, uint64_t units) {
  // Written so nothing underflows when capacity shrank below what is in use.
  uint64_t taken = r.used + r.external;
  return r.closed == 0 && taken <= r.capacity && units <= r.capacity - taken;
}

// Scheduling: strict order (priority desc, then arrival), no backfill past a head that does not
// fit, so a large request is never starved by a stream of small ones.

void ProcessLedger::Schedule(uint32_t r, Wakes* wake, uint32_t inline_waiter, bool* inline_granted) {
  Resource& res = ResAt(r);
  while (res.waiting > 0) {
    uint32_t best = kNone;
    for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
      const Waiter& w = hdr_->waiters[i];
      if (w.state != kWaiting || w.resource != r) continue;
      if (best == kNone) {
        best = i;
        continue;
      }
      const Waiter& b = hdr_->waiters[best];
      if (w.priority > b.priority || (w.priority == b.priority && w.seq < b.seq)) best = i;
    }
    if (best == kNone) {  // counter drifted (cannot happen outside a repair): fix and stop
      res.waiting = 0;
      return;
    }
    Waiter& w = hdr_->waiters[best];
    if (w.gang > 1) {
      // A member of an all-or-nothing request heads this queue: all of it or nobody here.
      if (!TryGrantGang(best, wake, /*deliver=*/true)) return;
      continue;
    }
    if (!Fits(res, w.units)) return;
    Proc& p = ProcAt(w.proc);
    uint32_t h = NewHolder(r, w.units, w.priority, w.proc, w.pid, w.owner, w.thread, w.label, w.revoke_after_ms);
    if (h == kNone) return;  // holder table full: it stays queued until a slot frees
    res.waiting--;
    w.holder = h;
    if (best == inline_waiter) {
      FreeWaiter(best);
      *inline_granted = true;
      continue;
    }
    w.next_granted = p.granted_head;
    __atomic_store_n(&w.state, kGranted, __ATOMIC_RELEASE);
    p.granted_head = best;
    wake->push_back(WakeTarget(w.proc, w.thread, WakeTarget::kGrant));
  }
}

AcquireResult ProcessLedger::Acquire(uint32_t r, uint64_t units, int32_t priority, uint32_t owner, uint32_t thread,
                                     bool queue, const std::string& label_in, uint64_t revoke_after_ms) {
  char label[kLabelMax] = {};
  memcpy(label, label_in.data(), label_in.size() < kLabelMax - 1 ? label_in.size() : kLabelMax - 1);
  AcquireResult out{AcquireStatus::kBusy};
  Wakes wake;
  bool kick_self = false, kick_watch = false;
  {
    Locked lock(this);
    if (r >= kMaxResources || hdr_->resources[r].state != kHeld) {
      out.status = AcquireStatus::kUnknownResource;
      return out;
    }
    Resource& res = hdr_->resources[r];
    if (units > res.capacity) {
      out.status = AcquireStatus::kDoesNotFit;
      return out;
    }
    // Fast path: nobody queued and it fits.
    bool fits = res.waiting == 0 && Fits(res, units);
    if (!fits) {
      // Before queueing (or saying busy), reclaim dead holders: this is "the next ledger
      // operation" after a crash. trylock per live process: no syscalls when all are alive.
      Sweep(&wake);
      fits = res.waiting == 0 && Fits(res, units);
    }
    if (fits) {
      uint32_t h = NewHolder(r, units, priority, proc_, pid_, owner, thread, label, revoke_after_ms);
      if (h != kNone) {
        out.status = AcquireStatus::kGranted;
        out.slot = h;
        out.token = hdr_->holders[h].token;
        out.fence = hdr_->holders[h].fence;
      } else {
        out.status = queue ? AcquireStatus::kTableFull : AcquireStatus::kBusy;
      }
    } else if (queue) {
      uint32_t wi = NewWaiterSlot();
      if (wi == kNone) {
        out.status = AcquireStatus::kTableFull;
      } else {
        Waiter& w = hdr_->waiters[wi];
        FillWaiter(w, WaiterFields{r, owner, thread, priority, units, 1, hdr_->next_seq++, next_request_.fetch_add(1),
                                   WallMs(), revoke_after_ms, label});
        __atomic_store_n(&w.state, kWaiting, __ATOMIC_RELEASE);
        res.waiting++;
        // A higher-priority newcomer may be the new head and fit right now.
        bool inline_granted = false;
        Schedule(r, &wake, wi, &inline_granted);
        if (inline_granted) {
          Holder& h = HolderAt(w.holder);
          out.status = AcquireStatus::kGranted;
          out.slot = w.holder;
          out.token = h.token;
          out.fence = h.fence;
        } else {
          out.status = AcquireStatus::kQueued;
          out.slot = wi;
          out.request = w.request;
          pending_.fetch_add(1);
          kick_self = deep_sleep_.load() && !no_poll_;  // wake it so it starts the sweep poll
          kick_watch = watch_idle_.load();              // and the holder watcher
        }
      }
    }
  }
  WakeAll(wake);
  if (kick_self) FutexBumpAndWake(&hdr_->procs[proc_].wake);
  if (kick_watch) FutexBumpAndWake(&watch_ctl_);
  return out;
}

CancelStatus ProcessLedger::Cancel(uint32_t wi, uint64_t request) {
  if (wi >= kMaxWaiters) return CancelStatus::kNotFound;
  CancelStatus out = CancelStatus::kNotFound;
  Wakes wake;
  {
    Locked lock(this);
    Waiter& w = hdr_->waiters[wi];
    if (w.state == kFree || w.proc != proc_ || w.request != request) return out;
    if (w.gang > 1) {
      out = CancelGang(wi, &wake);
    } else {
      uint32_t r = w.resource;
      if (w.state == kWaiting) {
        Resource& res = ResAt(r);
        if (res.waiting > 0) res.waiting--;
        out = CancelStatus::kRemoved;
      } else {  // kGranted, not yet picked up: give the hold straight back
        UnlinkGranted(wi);
        DropHolder(w.holder);
        out = CancelStatus::kReleasedGrant;
      }
      FreeWaiter(wi);
      pending_.fetch_sub(1);
      if (out == CancelStatus::kReleasedGrant) wake.push_back(WakeTarget(proc_, kNone, WakeTarget::kWatchers));
      // The head leaving (or capacity freed) may let the next ones in.
      Schedule(r, &wake, kNone, nullptr);
    }
  }
  WakeAll(wake);
  return out;
}

ReleaseStatus ProcessLedger::ReleaseLocked(uint32_t hi, uint64_t token, uint32_t owner, Wakes* wake,
                                           std::vector<uint32_t>* freed) {
  const bool revoked = hi < kMaxHolders && hdr_->holders[hi].state == kRevoked && hdr_->holders[hi].token == token;
  if (revoked && hdr_->holders[hi].proc == proc_ && hdr_->holders[hi].owner == owner) {
    const bool expired = hdr_->holders[hi].lost_reason == kLostExpired;
    DropHolder(hi);  // the holder let go of what was already taken: nothing to free
    return expired ? ReleaseStatus::kWasExpired : ReleaseStatus::kWasRevoked;
  }
  // (Anyone else's token of a revoked hold holds nothing, as a stale one: refused below. The
  // slot stays for the holder's process, which has still to be told.)
  if (revoked || hi >= kMaxHolders || hdr_->holders[hi].state != kHeld || hdr_->holders[hi].token != token) {
    hdr_->ownership_violations++;
    return ReleaseStatus::kNotOwner;
  }
  const Holder& h = hdr_->holders[hi];
  if (h.proc != proc_ || h.owner != owner) {
    // Another handle's or process's hold, released by its token (tokens are capabilities):
    // it ends exactly as a revoke ends it, so its holder is told at once (docs/host-ledger.md).
    RevokeLocked(hi, kLostRevoked, wake);
  } else {
    freed->push_back(h.resource);
    FreeHolder(hi);
    wake->push_back(WakeTarget(proc_, kNone, WakeTarget::kWatchers));  // our watchers look again
  }
  return ReleaseStatus::kReleased;
}

ReleaseStatus ProcessLedger::Release(uint32_t hi, uint64_t token, uint32_t owner) {
  Wakes wake;
  std::vector<uint32_t> freed;
  ReleaseStatus out;
  {
    Locked lock(this);
    out = ReleaseLocked(hi, token, owner, &wake, &freed);
    for (uint32_t r : freed) Schedule(r, &wake, kNone, nullptr);
  }
  WakeAll(wake);
  return out;
}

std::vector<ReleaseStatus> ProcessLedger::ReleaseSet(const std::vector<std::pair<uint32_t, uint64_t>>& holds,
                                                     uint32_t owner) {
  Wakes wake;
  std::vector<uint32_t> freed;
  std::vector<ReleaseStatus> out;
  {
    Locked lock(this);
    for (const auto& [hi, token] : holds) out.push_back(ReleaseLocked(hi, token, owner, &wake, &freed));
    // Every unit is back before anyone is scheduled: a set waiting for the same resources
    // is granted whole, and no view ever shows a set half given back.
    for (uint32_t r : freed) Schedule(r, &wake, kNone, nullptr);
  }
  WakeAll(wake);
  return out;
}

void ProcessLedger::Forget(uint32_t hi, uint64_t token) {
  Locked lock(this);
  if (hi < kMaxHolders && hdr_->holders[hi].state == kRevoked && hdr_->holders[hi].token == token) {
    DropHolder(hi);
  }
}

bool ProcessLedger::Revoke(uint32_t hi, uint64_t token, uint32_t reason) {
  Wakes wake;
  {
    Locked lock(this);
    if (hi >= kMaxHolders || hdr_->holders[hi].state != kHeld || hdr_->holders[hi].token != token) {
      return false;
    }
    RevokeLocked(hi, reason == 0 ? kLostRevoked : reason, &wake);
  }
  WakeAll(wake);
  return true;
}

void ProcessLedger::RevokeLocked(uint32_t hi, uint32_t reason, Wakes* wake) {
  Holder& h = HolderAt(hi);
  Resource& res = ResAt(h.resource);
  Proc& p = ProcAt(h.proc);
  res.used = res.used >= h.units ? res.used - h.units : 0;
  h.lost_reason = reason;
  h.next_revoked = p.revoked_head;
  __atomic_store_n(&h.state, kRevoked, __ATOMIC_RELEASE);
  p.revoked_head = hi;
  wake->push_back(WakeTarget(h.proc, h.thread, WakeTarget::kGrant));     // the notice
  wake->push_back(WakeTarget(h.proc, kNone, WakeTarget::kWatchers));    // its watchers
  Schedule(h.resource, wake, kNone, nullptr);
}

void ProcessLedger::ReleaseOwner(uint32_t owner) {
  Wakes wake;
  {
    Locked lock(this);
    bool touched[kMaxResources] = {};
    for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
      Waiter& w = hdr_->waiters[i];
      if (w.state == kFree || w.proc != proc_ || w.owner != owner) continue;
      Resource& res = ResAt(w.resource);
      if (w.state == kWaiting && res.waiting > 0) res.waiting--;
      if (w.state == kGranted) UnlinkGranted(i);  // its holder has the same owner: freed below
      touched[w.resource] = true;
      FreeWaiter(i);
      pending_.fetch_sub(1);
    }
    for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
      Holder& h = hdr_->holders[i];
      if ((h.state != kHeld && h.state != kRevoked) || h.proc != proc_ || h.owner != owner) continue;
      ResAt(h.resource);
      touched[h.resource] = true;
      DropHolder(i);
    }
    for (uint32_t r = 0; r < kMaxResources; r++) {
      if (touched[r]) Schedule(r, &wake, kNone, nullptr);
    }
    wake.push_back(WakeTarget(proc_, kNone, WakeTarget::kWatchers));
  }
  WakeAll(wake);
}

}  // namespace gpu_arbiter::host
