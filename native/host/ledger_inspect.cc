// ProcessLedger, part 6 of 6: copying the ledger out (inspect, status) and the test hooks.
#include <unistd.h>

#include <cstring>

#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

LedgerView ProcessLedger::Inspect(uint32_t only) {
  LedgerView v;
  Wakes wake;
  const bool one = only != kNone;
  {
    Locked lock(this);
    Sweep(&wake);  // status should not show dead processes as holders
    if (one && (only >= kMaxResources || hdr_->resources[only].state != kHeld)) {
      // No such resource: an empty view.
    } else {
      for (uint32_t i = one ? only : 0; i < (one ? only + 1 : kMaxResources); i++) {
        const Resource& r = hdr_->resources[i];
        if (r.state == kHeld) {
          v.resources.push_back(
              {FieldString(r.name), r.capacity, r.used, r.fence, r.external, r.waiting, r.closed != 0});
        }
      }
      for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
        const Holder& h = hdr_->holders[i];
        if (h.state != kHeld || (one && h.resource != only)) continue;
        v.holders.push_back({FieldString(ResAt(h.resource).name), FieldString(h.label), h.pid, h.thread, h.owner, i,
                             h.priority, h.units, h.fence, h.since_ms, h.proc == proc_});
      }
      for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
        const Waiter& w = hdr_->waiters[i];
        if (w.state == kFree || (one && w.resource != only)) continue;
        v.waiters.push_back({FieldString(ResAt(w.resource).name), FieldString(w.label), w.pid, w.thread, w.owner,
                             w.priority, w.units, w.seq, w.since_ms, w.state == kGranted});
      }
    }
    if (!one) {
      for (const Proc& p : hdr_->procs) {
        if (p.state == kHeld) v.procs.emplace_back(p.pid, p.start_time);
      }
      v.ownership_violations = hdr_->ownership_violations;
      v.repairs = hdr_->repairs;
      v.reclaimed_procs = hdr_->reclaimed_procs;
      v.grants = hdr_->grants;
    }
  }
  WakeAll(wake);
  return v;
}

void ProcessLedger::TestParkInLock() {
  LockRobust(&hdr_->lock);
  // A torn update: units counted with no holder behind them, and a waiter slot half-written.
  for (auto& r : hdr_->resources) {
    if (r.state == kHeld) r.used += 1;
  }
  hdr_->waiters[kMaxWaiters - 1].resource = 0xDEAD;
  hdr_->waiters[kMaxWaiters - 1].state = kWaiting;
  hdr_->waiters_hwm = kMaxWaiters;
  for (;;) pause();
}

uint32_t ProcessLedger::TestInjectHolder(uint32_t r, uint64_t units, int32_t pid, uint64_t start_time) {
  Locked lock(this);
  if (r >= kMaxResources || hdr_->resources[r].state != kHeld) return kNone;
  // Its `alive` mutex is never locked: liveness falls back to pid + start time. No wake key: no
  // loop listens for it.
  const uint32_t i = ClaimProcSlot(pid, start_time, 0);
  if (i == kNone) return kNone;
  static const char kInjected[kLabelMax] = "injected";
  return NewHolder(r, units, 0, i, pid, 0, 0, kInjected, 0);
}

}  // namespace gpu_arbiter::host
