// ProcessLedger, all-or-nothing requests (issue 14: a job that needs N GPUs gets all N or none).
//
// A request over N resources is N waiter slots, one per resource, that share proc, request, seq,
// priority and units (Waiter::gang = N). Each sits in its resource's queue like any waiter, so
// the strict order of every queue (priority, then arrival) holds, and the request is granted in
// one step, under the lock, once each member is the head of its queue and fits: nobody ever sees
// a part of it held. Two such requests cannot deadlock: they never hold anything while they
// wait, and one arrival number orders them the same way in every queue they share. A member at
// the head of a queue blocks that queue as any head that does not fit does (no backfill), which
// is what keeps a large request from starving. Only the lowest member slot (the lead) goes on
// the granted list; its process picks every member up from it (waiter_thread.cc).
#include <cstring>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"

namespace gpu_arbiter::host {

uint32_t ProcessLedger::GangMembers(uint32_t member, uint32_t* out) {
  const Waiter& w = WaiterAt(member);
  uint32_t n = 0;
  for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
    const Waiter& x = hdr_->waiters[i];
    if (x.state == kFree || x.proc != w.proc || x.request != w.request) continue;
    if (n == kMaxGang) Corrupt("a request over several resources has more than " + std::to_string(kMaxGang) + " members");
    out[n++] = i;
  }
  if (n != w.gang) Corrupt("a request over " + std::to_string(w.gang) + " resources has " + std::to_string(n) + " members");
  return n;
}

bool ProcessLedger::IsHead(uint32_t wi) {
  const Waiter& w = WaiterAt(wi);
  for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
    const Waiter& x = hdr_->waiters[i];
    if (i == wi || x.state != kWaiting || x.resource != w.resource) continue;
    if (x.priority > w.priority || (x.priority == w.priority && x.seq < w.seq)) return false;
  }
  return true;
}

bool ProcessLedger::TryGrantGang(uint32_t member, Wakes* wake, bool deliver) {
  uint32_t mem[kMaxGang];
  const uint32_t n = GangMembers(member, mem);
  for (uint32_t k = 0; k < n; k++) {
    const Waiter& x = hdr_->waiters[mem[k]];
    if (x.state != kWaiting) Corrupt("a request over several resources is partly granted");
    if (!Fits(ResAt(x.resource), x.units) || !IsHead(mem[k])) return false;
  }
  uint32_t made[kMaxGang];
  for (uint32_t k = 0; k < n; k++) {
    const Waiter& x = hdr_->waiters[mem[k]];
    made[k] = NewHolder(x.resource, x.units, x.priority, x.proc, x.pid, x.owner, x.thread, x.label, x.revoke_after_ms);
    if (made[k] == kNone) {  // holder table full: all stay queued until slots free
      for (uint32_t j = 0; j < k; j++) FreeHolder(made[j]);
      return false;
    }
  }
  const uint32_t lead = mem[0];
  for (uint32_t k = 0; k < n; k++) {
    Waiter& x = hdr_->waiters[mem[k]];
    x.holder = made[k];
    Resource& res = ResAt(x.resource);
    if (res.waiting > 0) res.waiting--;
    if (k != 0 || !deliver) __atomic_store_n(&x.state, kGranted, __ATOMIC_RELEASE);
  }
  if (deliver) {
    Waiter& w = hdr_->waiters[lead];
    Proc& p = ProcAt(w.proc);
    w.next_granted = p.granted_head;
    __atomic_store_n(&w.state, kGranted, __ATOMIC_RELEASE);
    p.granted_head = lead;
    wake->push_back(WakeTarget(w.proc, w.thread, WakeTarget::kGrant));
  }
  return true;
}

CancelStatus ProcessLedger::CancelGang(uint32_t lead, Wakes* wake) {
  uint32_t mem[kMaxGang];
  const uint32_t n = GangMembers(lead, mem);
  const bool granted = hdr_->waiters[lead].state == kGranted;
  if (granted) UnlinkGranted(lead);
  uint32_t touched[kMaxGang];
  for (uint32_t k = 0; k < n; k++) {
    Waiter& x = hdr_->waiters[mem[k]];
    if ((x.state == kGranted) != granted) Corrupt("a request over several resources is partly granted");
    Resource& res = ResAt(x.resource);
    if (granted) {
      DropHolder(x.holder);
    } else if (res.waiting > 0) {
      res.waiting--;
    }
    touched[k] = x.resource;
    FreeWaiter(mem[k]);
    pending_.fetch_sub(1);
  }
  for (uint32_t k = 0; k < n; k++) Schedule(touched[k], wake, kNone, nullptr);
  return granted ? CancelStatus::kReleasedGrant : CancelStatus::kRemoved;
}

void ProcessLedger::RepairGang(const std::vector<uint32_t>& mem) {
  Header* h = hdr_;
  const Waiter& lead = h->waiters[mem[0]];
  auto holder_ok = [h](const Waiter& w) {
    return w.holder < kMaxHolders && h->holders[w.holder].state == kHeld && h->holders[w.holder].proc == w.proc;
  };
  bool whole = mem.size() == lead.gang;
  for (uint32_t i : mem) whole = whole && h->waiters[i].state == kGranted && holder_ok(h->waiters[i]);
  if (whole) {
    Waiter& w = h->waiters[mem[0]];
    w.next_granted = h->procs[w.proc].granted_head;
    h->procs[w.proc].granted_head = mem[0];
    return;
  }
  for (uint32_t i : mem) {
    Waiter& w = h->waiters[i];
    if (w.state == kGranted && holder_ok(w)) {
      Holder& x = h->holders[w.holder];
      Resource& res = h->resources[x.resource];
      res.used = res.used >= x.units ? res.used - x.units : 0;
      x.state = kFree;
    }
    if (mem.size() == lead.gang) {
      w.state = kWaiting;
      w.holder = kNone;
      h->resources[w.resource].waiting++;
    } else {
      // Members missing: only the requesting process writes them, so it died inside the lock
      // (its reclaim follows); nobody waits for this request any more.
      w.state = kFree;
    }
  }
}

AcquireSetResult ProcessLedger::AcquireSet(const std::vector<uint32_t>& rs, uint64_t units, int32_t priority,
                                           uint32_t owner, uint32_t thread, bool queue, const std::string& label_in,
                                           uint64_t revoke_after_ms) {
  char label[kLabelMax] = {};
  memcpy(label, label_in.data(), label_in.size() < kLabelMax - 1 ? label_in.size() : kLabelMax - 1);
  AcquireSetResult out{AcquireStatus::kBusy, kNone, 0, {}};
  const uint32_t n = static_cast<uint32_t>(rs.size());
  if (n < 2 || n > kMaxGang) throw LedgerError{"E_INVALID_ARGUMENT", "a request over several resources takes 2 to " + std::to_string(kMaxGang)};
  for (uint32_t k = 0; k < n; k++) {
    for (uint32_t j = 0; j < k; j++) {
      if (rs[j] == rs[k]) throw LedgerError{"E_INVALID_ARGUMENT", "a request over several resources names one twice"};
    }
  }
  Wakes wake;
  bool kick_watch = false;
  {
    Locked lock(this);
    for (uint32_t k = 0; k < n; k++) {
      if (rs[k] >= kMaxResources || hdr_->resources[rs[k]].state != kHeld) {
        out.status = AcquireStatus::kUnknownResource;
        return out;
      }
      if (units > hdr_->resources[rs[k]].capacity) {
        out.status = AcquireStatus::kDoesNotFit;
        return out;
      }
    }
    // Queue every member under one arrival number, then grant at once if the request is the
    // head everywhere and fits (the uncontended case: one lock round trip).
    Sweep(&wake);
    uint32_t slots[kMaxGang];
    uint32_t found = 0;
    for (uint32_t i = 0; i < kMaxWaiters && found < n; i++) {
      if (hdr_->waiters[i].state == kFree) slots[found++] = i;
    }
    if (found < n) {
      out.status = queue ? AcquireStatus::kTableFull : AcquireStatus::kBusy;
      return out;
    }
    // The scan bound first, then each slot's fields, then its state (layout write order).
    if (slots[n - 1] >= hdr_->waiters_hwm) hdr_->waiters_hwm = slots[n - 1] + 1;
    const uint64_t seq = hdr_->next_seq++;
    const uint64_t request = next_request_.fetch_add(1);
    const int64_t since = WallMs();
    for (uint32_t k = 0; k < n; k++) {
      Waiter& w = hdr_->waiters[slots[k]];
      FillWaiter(w, WaiterFields{rs[k], owner, thread, priority, units, n, seq, request, since, revoke_after_ms, label});
      __atomic_store_n(&w.state, kWaiting, __ATOMIC_RELEASE);
      hdr_->resources[rs[k]].waiting++;
    }
    const uint32_t lead = slots[0];  // found in ascending order
    if (TryGrantGang(lead, &wake, /*deliver=*/false)) {
      out.status = AcquireStatus::kGranted;
      for (uint32_t k = 0; k < n; k++) {
        const Waiter& w = hdr_->waiters[slots[k]];
        const Holder& h = HolderAt(w.holder);
        out.members.push_back(SetMember{w.resource, w.holder, h.token, h.fence});
        FreeWaiter(slots[k]);
      }
    } else if (!queue) {
      for (uint32_t k = 0; k < n; k++) {
        Resource& res = hdr_->resources[rs[k]];
        if (res.waiting > 0) res.waiting--;
        FreeWaiter(slots[k]);
      }
      out.status = AcquireStatus::kBusy;
    } else {
      out.status = AcquireStatus::kQueued;
      out.slot = lead;
      out.request = request;
      pending_.fetch_add(static_cast<int>(n));
      if (deep_sleep_.load() && !no_poll_) wake.push_back(proc_);  // start our sweep poll
      kick_watch = watch_idle_.load();                             // and the holder watcher
    }
  }
  WakeAll(wake);
  if (kick_watch) FutexBumpAndWake(&watch_ctl_);
  return out;
}

}  // namespace gpu_arbiter::host
