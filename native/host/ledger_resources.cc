// ProcessLedger, part 2 of 6: resources (define, capacity and state, usage, find).
#include <cstring>

#include "host/ledger.h"
#include "host/ledger_internal.h"

namespace gpu_arbiter::host {

uint32_t ProcessLedger::DefineResource(const std::string& name, uint64_t capacity, bool update) {
  Wakes wake;
  uint32_t found = kNone;
  {
    Locked lock(this);
    found = DefineLocked(name, capacity, update, &wake);
  }
  WakeAll(wake);
  return found;
}

uint32_t ProcessLedger::DefineLocked(const std::string& name, uint64_t capacity, bool update,
                                     Wakes* wake) {
  uint32_t free_slot = kNone;
  for (uint32_t i = 0; i < kMaxResources; i++) {
    Resource& r = hdr_->resources[i];
    if (r.state == kFree) {
      if (free_slot == kNone) free_slot = i;
      continue;
    }
    if (name == FieldString(r.name)) {
      if (r.capacity != capacity && update) {
        r.capacity = capacity;
        Schedule(i, wake, kNone, nullptr);  // grown: waiters may fit now
      } else if (r.capacity != capacity) {
        throw LedgerError{"E_INVALID_ARGUMENT", "Resource " + name + " is already defined in " + path_ +
                                                    " with capacity " + std::to_string(r.capacity) +
                                                    "; this process asked for " + std::to_string(capacity)};
      }
      return i;
    }
  }
  if (free_slot == kNone) {
    throw LedgerError{"E_QUEUE_FULL", path_ + " already defines " + std::to_string(kMaxResources) + " resources"};
  }
  Resource& r = hdr_->resources[free_slot];
  memset(r.name, 0, sizeof r.name);
  memcpy(r.name, name.data(), name.size() < kNameMax - 1 ? name.size() : kNameMax - 1);
  r.capacity = capacity;
  r.used = 0;
  r.waiting = 0;
  r.external = 0;
  r.closed = 0;
  __atomic_store_n(&r.state, kHeld, __ATOMIC_RELEASE);
  return free_slot;
}

void ProcessLedger::SetResourceState(uint32_t ri, uint64_t external, bool closed) {
  Wakes wake;
  {
    Locked lock(this);
    if (ri >= kMaxResources || hdr_->resources[ri].state != kHeld) return;
    Resource& r = hdr_->resources[ri];
    r.external = external;
    r.closed = closed ? 1 : 0;
    Schedule(ri, &wake, kNone, nullptr);  // less external use, or reopened: waiters may fit
  }
  WakeAll(wake);
}

ResourceUsage ProcessLedger::Usage(uint32_t ri) {
  ResourceUsage u{};
  Locked lock(this);
  if (ri >= kMaxResources || hdr_->resources[ri].state != kHeld) return u;
  const Resource& r = hdr_->resources[ri];
  u.capacity = r.capacity;
  u.external = r.external;
  u.used = r.used;
  u.closed = r.closed != 0;
  u.waiting = r.waiting;
  for (uint32_t i = 0; i < hdr_->waiters_hwm && r.waiting > 0; i++) {
    const Waiter& w = hdr_->waiters[i];
    if (w.state != kWaiting || w.resource != ri) continue;
    if (!u.has_head || w.priority > u.head_priority) u.head_priority = w.priority;
    u.has_head = true;
  }
  return u;
}

uint32_t ProcessLedger::FindResource(const std::string& name) {
  Locked lock(this);
  for (uint32_t i = 0; i < kMaxResources; i++) {
    if (hdr_->resources[i].state == kHeld && name == FieldString(hdr_->resources[i].name)) return i;
  }
  return kNone;
}

}  // namespace gpu_arbiter::host
