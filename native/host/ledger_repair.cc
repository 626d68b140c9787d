// ProcessLedger, part 5 of 6: liveness of the registered processes, reclaiming dead ones and
// expired holds, the repair after a process died inside the ledger lock, and the validation of
// a mapped ledger. All under the lock.
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/liveness.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

bool ProcessLedger::ProcDead(uint32_t i) {
  Proc& p = hdr_->procs[i];
  if (p.pid == pid_ && p.start_time == start_time_) return false;  // this process
  if (!RobustMutexTypeIntact(&p.alive)) Corrupt("process slot " + std::to_string(i) + " has a damaged liveness mutex");
  int rc = pthread_mutex_trylock(&p.alive);
  if (rc == EBUSY) return false;  // its waiter thread holds it: the process is alive
  if (rc == EOWNERDEAD) {
    // The kernel released it for a dead thread. Leave it consistent and unlocked for reuse.
    pthread_mutex_consistent(&p.alive);
    pthread_mutex_unlock(&p.alive);
    return true;
  }
  if (rc == 0) pthread_mutex_unlock(&p.alive);
  // Not held (registration in progress, or an entry nobody guards): pid + start time decide.
  return !ProcessAlive(p.pid, p.start_time);
}

// Expired holds first (their units may let a waiter in), then dead processes.
void ProcessLedger::Sweep(Wakes* wake) {
  ExpireHolds(wake);
  for (uint32_t i = 0; i < kMaxProcs; i++) {
    Proc& p = hdr_->procs[i];
    if (p.state == kHeld && i != proc_ && ProcDead(i)) ReclaimProc(i, wake);
  }
}

// A hold whose revoke_at_ms has passed is revoked whatever its process does: that process may be
// stopped (SIGSTOP) or hung, and so unable to enforce its own hold limit (docs/host-ledger.md).
void ProcessLedger::ExpireHolds(Wakes* wake) {
  const uint64_t next = hdr_->next_expiry_ms;
  if (next == 0) return;
  const uint64_t now = MonoMs();
  if (now < next) return;
  uint32_t expired[64];
  uint32_t n = 0;
  uint64_t soonest = 0;
  bool more = false;  // more expired than fit in `expired`: the next sweep takes the rest
  for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
    const Holder& h = hdr_->holders[i];
    if (h.state != kHeld || h.revoke_at_ms == 0) continue;
    if (h.revoke_at_ms <= now && n < 64) {
      expired[n++] = i;
    } else {
      more = more || h.revoke_at_ms <= now;
      if (soonest == 0 || h.revoke_at_ms < soonest) soonest = h.revoke_at_ms;
    }
  }
  // Set before revoking: the grants the revocations make lower it again where they expire.
  hdr_->next_expiry_ms = more ? now : soonest;
  for (uint32_t k = 0; k < n; k++) RevokeLocked(expired[k], kLostExpired, wake);
}

void ProcessLedger::ReclaimProc(uint32_t pi, Wakes* wake) {
  bool touched[kMaxResources] = {};
  for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
    Waiter& w = hdr_->waiters[i];
    if (w.state == kFree || w.proc != pi) continue;
    Resource& res = ResAt(w.resource);
    if (w.state == kWaiting && res.waiting > 0) res.waiting--;
    touched[w.resource] = true;
    FreeWaiter(i);  // kGranted: its holder goes below
  }
  for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
    Holder& h = hdr_->holders[i];
    if ((h.state != kHeld && h.state != kRevoked) || h.proc != pi) continue;
    ResAt(h.resource);
    touched[h.resource] = true;
    DropHolder(i);
  }
  Proc& p = ProcAt(pi);
  p.granted_head = kNone;
  p.revoked_head = kNone;
  p.wake_key = 0;
  __atomic_store_n(&p.state, kFree, __ATOMIC_RELEASE);
  hdr_->reclaimed_procs++;
  // Whoever watched it sleeps on a word that will not change again for them: wake them all.
  wake->push_back(WakeTarget(pi, kNone, WakeTarget::kWatchersAll));
  for (uint32_t r = 0; r < kMaxResources; r++) {
    if (touched[r]) Schedule(r, wake, kNone, nullptr);
  }
}

// Runs with the lock just taken from a dead owner. Rebuild every derived value from the slot
// tables, drop slots that point nowhere, then reclaim dead processes (the owner that died is
// almost certainly one) and re-run scheduling everywhere.
void ProcessLedger::Repair() {
  Header* h = hdr_;
  for (auto& r : h->resources) {
    if (r.state != kHeld) r.state = kFree;
    r.used = 0;
    r.waiting = 0;
    r.name[kNameMax - 1] = '\0';
  }
  for (auto& p : h->procs) {
    if (p.state != kHeld) p.state = kFree;
    p.granted_head = kNone;
    p.revoked_head = kNone;
  }
  auto proc_ok = [h](uint32_t p) { return p < kMaxProcs && h->procs[p].state == kHeld; };
  auto res_ok = [h](uint32_t r) { return r < kMaxResources && h->resources[r].state == kHeld; };
  h->holders_hwm = 0;
  h->next_expiry_ms = 0;
  for (uint32_t i = 0; i < kMaxHolders; i++) {
    Holder& x = h->holders[i];
    if (x.state == kHeld && res_ok(x.resource) && proc_ok(x.proc)) {
      h->resources[x.resource].used += x.units;
      if (h->resources[x.resource].fence < x.fence) h->resources[x.resource].fence = x.fence;
      if (x.revoke_at_ms != 0 && (h->next_expiry_ms == 0 || x.revoke_at_ms < h->next_expiry_ms)) {
        h->next_expiry_ms = x.revoke_at_ms;
      }
      h->holders_hwm = i + 1;
    } else if (x.state == kRevoked && res_ok(x.resource) && proc_ok(x.proc)) {
      x.next_revoked = h->procs[x.proc].revoked_head;  // still to be reported; units not counted
      h->procs[x.proc].revoked_head = i;
      h->holders_hwm = i + 1;
    } else {
      x.state = kFree;
    }
  }
  h->waiters_hwm = 0;
  std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>> gangs;  // (proc, request) -> members
  for (uint32_t i = 0; i < kMaxWaiters; i++) {
    Waiter& w = h->waiters[i];
    bool ok = (w.state == kWaiting || w.state == kGranted) && res_ok(w.resource) && proc_ok(w.proc) &&
              w.gang <= kMaxGang;
    if (!ok) {
      w.state = kFree;
      continue;
    }
    h->waiters_hwm = i + 1;
    if (w.gang > 1) {
      gangs[{w.proc, w.request}].push_back(i);
      continue;
    }
    if (w.state == kGranted) {
      bool holder_ok =
          w.holder < kMaxHolders && h->holders[w.holder].state == kHeld && h->holders[w.holder].proc == w.proc;
      if (holder_ok) {
        w.next_granted = h->procs[w.proc].granted_head;
        h->procs[w.proc].granted_head = i;
        continue;
      }
      w.state = kWaiting;  // its grant was torn: queue it again
    }
    h->resources[w.resource].waiting++;
  }
  for (auto& [key, mem] : gangs) RepairGang(mem);
  // A resource can be over capacity only if a grant was torn in a way the rules above missed;
  // it is then left to drain (no new grants until it fits again), never silently "fixed".
  h->repairs++;
  Wakes wake;
  Sweep(&wake);
  for (uint32_t r = 0; r < kMaxResources; r++) {
    if (h->resources[r].state == kHeld) Schedule(r, &wake, kNone, nullptr);
  }
  // Wake every process: their waiter threads re-read their lists. (Syscalls under the lock are
  // fine on this rare path.)
  for (uint32_t p = 0; p < kMaxProcs; p++) {
    if (h->procs[p].state == kHeld) FutexBumpAndWake(&h->procs[p].wake);
  }
}

// Every state, index, list and scan bound a healthy ledger keeps between two operations (the
// lock is held, and Repair has run if its last owner died). A ledger that breaks any is corrupt:
// Corrupt() throws, and this process never uses the mapping again. One pass over the tables
// (a few microseconds), at open and for status reads; the operations check each index they use.
void ProcessLedger::Validate() {
  const Header* h = hdr_;
  std::map<std::pair<uint32_t, uint64_t>, std::vector<uint32_t>> gangs;  // (proc, request) -> members
  auto at = [](const char* table, uint32_t i) { return std::string(table) + " slot " + std::to_string(i) + " "; };
  for (uint32_t i = 0; i < kMaxResources; i++) {
    const Resource& r = h->resources[i];
    if (r.state != kFree && r.state != kHeld) Corrupt(at("resource", i) + "has state " + std::to_string(r.state));
    if (r.state == kHeld && memchr(r.name, 0, kNameMax) == nullptr) Corrupt(at("resource", i) + "has no name end");
  }
  auto res_ok = [h](uint32_t r) { return r < kMaxResources && h->resources[r].state == kHeld; };
  auto proc_ok = [h](uint32_t p) { return p < kMaxProcs && h->procs[p].state == kHeld; };
  for (uint32_t i = 0; i < kMaxProcs; i++) {
    const Proc& p = h->procs[i];
    if (p.state != kFree && p.state != kHeld) Corrupt(at("process", i) + "has state " + std::to_string(p.state));
    if (p.state != kHeld) continue;
    if (p.granted_head != kNone && p.granted_head >= kMaxWaiters) Corrupt(at("process", i) + "has a bad grant list");
    if (p.revoked_head != kNone && p.revoked_head >= kMaxHolders) Corrupt(at("process", i) + "has a bad revoke list");
  }
  for (uint32_t i = 0; i < kMaxHolders; i++) {
    const Holder& x = h->holders[i];
    if (x.state == kFree) continue;
    if (x.state != kHeld && x.state != kRevoked) Corrupt(at("holder", i) + "has state " + std::to_string(x.state));
    if (i >= h->holders_hwm) Corrupt(at("holder", i) + "is beyond the scan bound");
    if (!res_ok(x.resource)) Corrupt(at("holder", i) + "names resource " + std::to_string(x.resource));
    if (!proc_ok(x.proc)) Corrupt(at("holder", i) + "names process " + std::to_string(x.proc));
    if (x.state == kRevoked && x.next_revoked != kNone && x.next_revoked >= kMaxHolders) {
      Corrupt(at("holder", i) + "has a bad revoke link");
    }
  }
  for (uint32_t i = 0; i < kMaxWaiters; i++) {
    const Waiter& w = h->waiters[i];
    if (w.state == kFree) continue;
    if (w.state != kWaiting && w.state != kGranted) Corrupt(at("waiter", i) + "has state " + std::to_string(w.state));
    if (w.gang > kMaxGang) Corrupt(at("waiter", i) + "is one of " + std::to_string(w.gang) + " members");
    if (w.gang > 1) gangs[{w.proc, w.request}].push_back(i);
    if (i >= h->waiters_hwm) Corrupt(at("waiter", i) + "is beyond the scan bound");
    if (!res_ok(w.resource)) Corrupt(at("waiter", i) + "names resource " + std::to_string(w.resource));
    if (!proc_ok(w.proc)) Corrupt(at("waiter", i) + "names process " + std::to_string(w.proc));
    if (w.state != kGranted) continue;
    if (w.holder >= kMaxHolders || (h->holders[w.holder].state != kHeld && h->holders[w.holder].state != kRevoked) ||
        h->holders[w.holder].proc != w.proc) {
      Corrupt(at("waiter", i) + "was granted holder " + std::to_string(w.holder));
    }
    if (w.next_granted != kNone && w.next_granted >= kMaxWaiters) Corrupt(at("waiter", i) + "has a bad grant link");
  }
  // All-or-nothing requests: all members there, one arrival, one resource each, granted all
  // together or not at all.
  for (const auto& [key, mem] : gangs) {
    const Waiter& lead = h->waiters[mem[0]];
    bool ok = mem.size() == lead.gang;
    for (uint32_t i : mem) {
      const Waiter& w = h->waiters[i];
      ok = ok && w.gang == lead.gang && w.seq == lead.seq && w.state == lead.state;
      for (uint32_t j : mem) ok = ok && (j == i || h->waiters[j].resource != w.resource);
    }
    if (!ok) Corrupt(at("waiter", mem[0]) + "leads a torn request over several resources");
  }
  // Each list: only slots of its own process in the right state, each slot at most once (so no
  // cycle, and no slot on two lists).
  std::vector<uint8_t> seen(kMaxWaiters > kMaxHolders ? kMaxWaiters : kMaxHolders, 0);
  for (uint32_t p = 0; p < kMaxProcs; p++) {
    if (h->procs[p].state != kHeld) continue;
    for (uint32_t wi = h->procs[p].granted_head; wi != kNone; wi = h->waiters[wi].next_granted) {
      if (wi >= kMaxWaiters || seen[wi] || h->waiters[wi].state != kGranted || h->waiters[wi].proc != p) {
        Corrupt(at("process", p) + "has a bad grant list");
      }
      seen[wi] = 1;
    }
  }
  std::fill(seen.begin(), seen.end(), 0);
  for (uint32_t p = 0; p < kMaxProcs; p++) {
    if (h->procs[p].state != kHeld) continue;
    for (uint32_t hi = h->procs[p].revoked_head; hi != kNone; hi = h->holders[hi].next_revoked) {
      if (hi >= kMaxHolders || seen[hi] || h->holders[hi].state != kRevoked || h->holders[hi].proc != p) {
        Corrupt(at("process", p) + "has a bad revoke list");
      }
      seen[hi] = 1;
    }
  }
}

}  // namespace gpu_arbiter::host
