// ProcessLedger: mapping, registration, and every ledger operation. See ledger.h for the model
// and ledger_layout.h for the shared layout and its write-order rule.
#include "host/ledger.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/futex_wake.h"
#include "host/liveness.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

namespace {

int64_t WallMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::string Errno(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + strerror(errno);
}

// Process-wide table of mapped ledgers, keyed by the file's (dev, inode): worker_threads that
// open the same namespace share one mapping and one waiter thread. Guarded by RegistryMutex().
// Heap-allocated and never freed, so it outlives every static destructor at process exit.
struct RegistryKey {
  dev_t dev;
  ino_t ino;
  bool operator<(const RegistryKey& o) const { return dev != o.dev ? dev < o.dev : ino < o.ino; }
};
std::mutex& RegistryMutex() {
  static std::mutex* m = new std::mutex();
  return *m;
}
std::map<RegistryKey, std::weak_ptr<ProcessLedger>>& Registry() {
  static auto* r = new std::map<RegistryKey, std::weak_ptr<ProcessLedger>>();
  return *r;
}

// Creates a fully initialised ledger under a temporary name and links it into place, so no
// process can ever map a half-initialised one. Returns false when another process won the race.
bool CreateLedgerFile(const std::string& path) {
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce) nonce = static_cast<uint64_t>(time(nullptr));
  std::string tmp = "/dev/shm/.gpu-arbiter-init-" + std::to_string(getpid()) + "-" + std::to_string(nonce);
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot create", tmp)};
  size_t size = sizeof(Header);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    std::string msg = Errno("cannot size", tmp);
    close(fd);
    unlink(tmp.c_str());
    throw LedgerError{"E_BACKEND_UNAVAILABLE", msg};
  }
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mem == MAP_FAILED) {
    std::string msg = Errno("cannot map", tmp);
    unlink(tmp.c_str());
    throw LedgerError{"E_BACKEND_UNAVAILABLE", msg};
  }
  // ftruncate zero-fills: every slot starts kFree. Fill in the rest of the header.
  auto* h = static_cast<Header*>(mem);
  h->layout_version = kLayoutVersion;
  h->header_size = sizeof(Header);
  h->total_size = size;
  h->max_resources = kMaxResources;
  h->max_procs = kMaxProcs;
  h->max_holders = kMaxHolders;
  h->max_waiters = kMaxWaiters;
  h->next_seq = 1;
  InitRobustMutex(&h->lock);
  for (auto& p : h->procs) {
    p.granted_head = kNone;
    p.revoked_head = kNone;
  }
  __atomic_store_n(&h->magic, kLedgerMagic, __ATOMIC_RELEASE);
  munmap(mem, size);
  int rc = link(tmp.c_str(), path.c_str());
  int link_errno = errno;
  unlink(tmp.c_str());
  if (rc == 0) return true;
  if (link_errno == EEXIST) return false;
  errno = link_errno;
  throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot create", path)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The ledger lock. Whoever finds it owner-died repairs the ledger before doing anything else.
ProcessLedger::Locked::Locked(ProcessLedger* l) : l_(l) {
  LockOutcome o = LockRobust(&l->hdr_->lock);
  if (o == LockOutcome::kUnrecoverable) {
    // Only possible if some process unlocked an owner-died lock without repairing it (not our
    // code). Nothing safe can be done: say how to recover.
    throw LedgerError{"E_BACKEND_UNAVAILABLE", "the host ledger " + l->path_ +
                                                   " is unrecoverable (its lock was left inconsistent); remove it with "
                                                   "removeNamespace() once no process uses it"};
  }
  if (o == LockOutcome::kOwnerDied) {
    l->Repair();
    MarkConsistent(&l->hdr_->lock);
  }
}

ProcessLedger::Locked::~Locked() { pthread_mutex_unlock(&l_->hdr_->lock); }

// Maps the ledger file open on `fd` (closed here) and checks magic, version and sizes before
// anything else is trusted. Any thread.
Header* ProcessLedger::MapValidated(int fd, const std::string& path, const struct stat& st) {
  // Validate before trusting a single field beyond the magic.
  if (static_cast<size_t>(st.st_size) < sizeof(uint64_t) * 2) {
    close(fd);
    throw LedgerError{"E_BACKEND_UNAVAILABLE", path +
                                                   " is not a gpu-arbiter host ledger (too small); remove it with "
                                                   "removeNamespace() once no process uses it"};
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (mem == MAP_FAILED) throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot map", path)};
  auto* h = static_cast<Header*>(mem);
  uint64_t magic = __atomic_load_n(&h->magic, __ATOMIC_ACQUIRE);
  std::string problem;
  if (magic != kLedgerMagic) {
    problem = path + " is not a gpu-arbiter host ledger (bad magic)";
  } else if (h->layout_version != kLayoutVersion) {
    problem = path + " has ledger layout version " + std::to_string(h->layout_version) +
              " but this build of gpu-arbiter uses version " + std::to_string(kLayoutVersion) +
              " (processes with different gpu-arbiter versions share the namespace)";
  } else if (size != sizeof(Header) || h->header_size != sizeof(Header) || h->total_size != sizeof(Header) ||
             h->max_resources != kMaxResources || h->max_procs != kMaxProcs || h->max_holders != kMaxHolders ||
             h->max_waiters != kMaxWaiters) {
    problem = path + " has the right layout version but a different size or table sizes";
  }
  if (!problem.empty()) {
    munmap(mem, size);
    throw LedgerError{"E_BACKEND_UNAVAILABLE", problem +
                                                   "; use another namespace, or remove it with removeNamespace() "
                                                   "once no process uses it"};
  }

  return h;
}

// ---------------------------------------------------------------------------------------------
std::shared_ptr<ProcessLedger> ProcessLedger::Open(const std::string& ns, bool create) {
  std::lock_guard<std::mutex> reg_lock(RegistryMutex());
  std::string path = "/dev/shm/gpu-arbiter-" + ns;
  int fd = -1;
  for (int attempt = 0; fd < 0; attempt++) {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd >= 0) break;
    if (errno == ENOENT && !create) {
      throw LedgerError{"E_BACKEND_UNAVAILABLE", "There is no host ledger " + path};
    }
    if (errno != ENOENT || attempt > 3) {
      throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot open", path)};
    }
    CreateLedgerFile(path);  // false = another process created it first: open theirs
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::string msg = Errno("cannot stat", path);
    close(fd);
    throw LedgerError{"E_BACKEND_UNAVAILABLE", msg};
  }
  RegistryKey key{st.st_dev, st.st_ino};
  auto it = Registry().find(key);
  if (it != Registry().end()) {
    if (auto existing = it->second.lock()) {
      close(fd);
      return existing;
    }
  }
  Header* h = MapValidated(fd, path, st);  // closes fd
  size_t size = static_cast<size_t>(st.st_size);
  std::shared_ptr<ProcessLedger> l(new ProcessLedger());
  l->path_ = path;
  l->dev_ = st.st_dev;
  l->ino_ = st.st_ino;
  l->hdr_ = h;
  l->size_ = size;
  l->pid_ = getpid();
  l->start_time_ = ProcessStartTime(l->pid_);
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = 0;
  l->rng_ = seed ^ (static_cast<uint64_t>(l->pid_) << 32) ^ static_cast<uint64_t>(WallMs()) ^ 0x9E3779B97F4A7C15ULL;
  l->Register();
  l->thread_ = std::thread([raw = l.get()] { raw->ThreadMain(); });
  Registry()[key] = l;
  return l;
}

// A status read that leaves no trace: no process registration, no waiter thread, its own
// short-lived mapping. It still takes the lock (and so repairs after a crash) and reclaims dead
// processes, so what it shows is live. JS thread.
LedgerView ProcessLedger::Peek(const std::string& ns) {
  std::string path = "/dev/shm/gpu-arbiter-" + ns;
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw LedgerError{"E_BACKEND_UNAVAILABLE", "There is no host ledger " + path};
    throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot open", path)};
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    std::string msg = Errno("cannot stat", path);
    close(fd);
    throw LedgerError{"E_BACKEND_UNAVAILABLE", msg};
  }
  Header* h = MapValidated(fd, path, st);
  std::unique_ptr<ProcessLedger> l(new ProcessLedger());
  l->path_ = path;
  l->hdr_ = h;
  l->size_ = static_cast<size_t>(st.st_size);
  l->pid_ = getpid();
  l->start_time_ = ProcessStartTime(l->pid_);
  return l->Inspect();  // ~ProcessLedger unmaps; nothing registered, no thread to stop
}

// Runs on the JS thread that dropped the last handle of this process on this ledger.
ProcessLedger::~ProcessLedger() {
  stop_.store(true);
  if (hdr_ != nullptr && proc_ != kNone) FutexBumpAndWake(&hdr_->procs[proc_].wake);
  if (thread_.joinable()) thread_.join();  // the thread lets go of `alive` as it leaves
  try {
    Unregister();
  } catch (const LedgerError&) {
  }
  if (ino_ != 0) {
    std::lock_guard<std::mutex> reg_lock(RegistryMutex());
    auto it = Registry().find(RegistryKey{dev_, ino_});
    if (it != Registry().end() && it->second.expired()) Registry().erase(it);
  }
  if (hdr_ != nullptr) munmap(hdr_, size_);
}

void ProcessLedger::Register() {
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    Sweep(&wake);  // a dead process's slot is freed here, so slots do not run out
    for (uint32_t i = 0; i < kMaxProcs; i++) {
      Proc& p = hdr_->procs[i];
      if (p.state != kFree) continue;
      p.pid = pid_;
      p.start_time = start_time_;
      p.generation++;
      p.granted_head = kNone;
      p.revoked_head = kNone;
      InitRobustMutex(&p.alive);  // free slot: nobody holds it (see ReclaimProc)
      __atomic_store_n(&p.state, kHeld, __ATOMIC_RELEASE);
      proc_ = i;
      break;
    }
  }
  WakeAll(wake);
  if (proc_ == kNone) {
    throw LedgerError{"E_BACKEND_UNAVAILABLE",
                      path_ + " has no free process slot (" + std::to_string(kMaxProcs) + " processes are using it)"};
  }
}

void ProcessLedger::Unregister() {
  if (proc_ == kNone) return;
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    ReclaimProc(proc_, &wake);  // drops anything still registered to us, then frees the slot
    hdr_->reclaimed_procs--;    // a clean exit is not a reclaim
  }
  WakeAll(wake);
  proc_ = kNone;
}

uint32_t ProcessLedger::AddSink(GrantSink* sink) {
  std::lock_guard<std::mutex> g(sinks_mu_);
  uint32_t owner = next_owner_++;
  sinks_[owner] = sink;
  return owner;
}

void ProcessLedger::RemoveSink(uint32_t owner) {
  std::lock_guard<std::mutex> g(sinks_mu_);
  sinks_.erase(owner);
}

void ProcessLedger::WakeAll(const std::vector<uint32_t>& wake) {
  for (size_t i = 0; i < wake.size(); i++) {
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen = seen || wake[j] == wake[i];
    if (!seen) FutexBumpAndWake(&hdr_->procs[wake[i]].wake);
  }
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

// ---------------------------------------------------------------------------------------------
// Resources

uint32_t ProcessLedger::DefineResource(const std::string& name, uint64_t capacity, bool update) {
  std::vector<uint32_t> wake;
  uint32_t found = kNone;
  {
    Locked lock(this);
    found = DefineLocked(name, capacity, update, &wake);
  }
  WakeAll(wake);
  return found;
}

uint32_t ProcessLedger::DefineLocked(const std::string& name, uint64_t capacity, bool update,
                                     std::vector<uint32_t>* wake) {
  uint32_t free_slot = kNone;
  for (uint32_t i = 0; i < kMaxResources; i++) {
    Resource& r = hdr_->resources[i];
    if (r.state == kFree) {
      if (free_slot == kNone) free_slot = i;
      continue;
    }
    if (name == r.name) {
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
  std::vector<uint32_t> wake;
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

bool ProcessLedger::Fits(const Resource& r, uint64_t units) {
  // Written so nothing underflows when capacity shrank below what is in use.
  uint64_t taken = r.used + r.external;
  return r.closed == 0 && taken <= r.capacity && units <= r.capacity - taken;
}

uint32_t ProcessLedger::FindResource(const std::string& name) {
  Locked lock(this);
  for (uint32_t i = 0; i < kMaxResources; i++) {
    if (hdr_->resources[i].state == kHeld && name == hdr_->resources[i].name) return i;
  }
  return kNone;
}

// ---------------------------------------------------------------------------------------------
// Slots (caller holds the lock)

uint32_t ProcessLedger::NewHolder(uint32_t r, uint64_t units, int32_t priority, uint32_t proc, int32_t pid,
                                  uint32_t owner, uint32_t thread, const char* label) {
  uint32_t limit = hdr_->holders_hwm < kMaxHolders ? hdr_->holders_hwm + 1 : kMaxHolders;
  for (uint32_t i = 0; i < limit; i++) {
    Holder& h = hdr_->holders[i];
    if (h.state != kFree) continue;
    Resource& res = hdr_->resources[r];
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
  Holder& h = hdr_->holders[i];
  Resource& res = hdr_->resources[h.resource];
  __atomic_store_n(&h.state, kFree, __ATOMIC_RELEASE);
  res.used = res.used >= h.units ? res.used - h.units : 0;
  while (hdr_->holders_hwm > 0 && hdr_->holders[hdr_->holders_hwm - 1].state == kFree) {
    hdr_->holders_hwm--;
  }
}

void ProcessLedger::FreeWaiter(uint32_t i) {
  __atomic_store_n(&hdr_->waiters[i].state, kFree, __ATOMIC_RELEASE);
  // Keep the scan bound tight: after a burst of waiters, Schedule() must not keep scanning it.
  while (hdr_->waiters_hwm > 0 && hdr_->waiters[hdr_->waiters_hwm - 1].state == kFree) {
    hdr_->waiters_hwm--;
  }
}

void ProcessLedger::UnlinkRevoked(uint32_t hi) {
  Proc& p = hdr_->procs[hdr_->holders[hi].proc];
  uint32_t* link = &p.revoked_head;
  for (uint32_t guard = 0; *link != kNone && guard < kMaxHolders; guard++) {
    if (*link == hi) {
      *link = hdr_->holders[hi].next_revoked;
      return;
    }
    link = &hdr_->holders[*link].next_revoked;
  }
}

void ProcessLedger::DropHolder(uint32_t hi) {
  Holder& h = hdr_->holders[hi];
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
  Proc& p = hdr_->procs[hdr_->waiters[w].proc];
  uint32_t* link = &p.granted_head;
  for (uint32_t guard = 0; *link != kNone && guard < kMaxWaiters; guard++) {
    if (*link == w) {
      *link = hdr_->waiters[w].next_granted;
      return;
    }
    link = &hdr_->waiters[*link].next_granted;
  }
}

// ---------------------------------------------------------------------------------------------
// Scheduling: strict order (priority desc, then arrival), no backfill past a head that does not
// fit, so a large request is never starved by a stream of small ones.

void ProcessLedger::Schedule(uint32_t r, std::vector<uint32_t>* wake, uint32_t inline_waiter, bool* inline_granted) {
  Resource& res = hdr_->resources[r];
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
    if (!Fits(res, w.units)) return;
    uint32_t h = NewHolder(r, w.units, w.priority, w.proc, w.pid, w.owner, w.thread, w.label);
    if (h == kNone) return;  // holder table full: it stays queued until a slot frees
    res.waiting--;
    w.holder = h;
    if (best == inline_waiter) {
      FreeWaiter(best);
      *inline_granted = true;
      continue;
    }
    Proc& p = hdr_->procs[w.proc];
    w.next_granted = p.granted_head;
    __atomic_store_n(&w.state, kGranted, __ATOMIC_RELEASE);
    p.granted_head = best;
    wake->push_back(w.proc);
  }
}

// ---------------------------------------------------------------------------------------------
// Liveness

bool ProcessLedger::ProcDead(Proc& p) {
  if (p.pid == pid_ && p.start_time == start_time_) return false;  // this process
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

void ProcessLedger::Sweep(std::vector<uint32_t>* wake) {
  for (uint32_t i = 0; i < kMaxProcs; i++) {
    Proc& p = hdr_->procs[i];
    if (p.state == kHeld && i != proc_ && ProcDead(p)) ReclaimProc(i, wake);
  }
}

void ProcessLedger::ReclaimProc(uint32_t pi, std::vector<uint32_t>* wake) {
  bool touched[kMaxResources] = {};
  for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
    Waiter& w = hdr_->waiters[i];
    if (w.state == kFree || w.proc != pi) continue;
    if (w.state == kWaiting && hdr_->resources[w.resource].waiting > 0) {
      hdr_->resources[w.resource].waiting--;
    }
    touched[w.resource] = true;
    FreeWaiter(i);  // kGranted: its holder goes below
  }
  for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
    Holder& h = hdr_->holders[i];
    if ((h.state != kHeld && h.state != kRevoked) || h.proc != pi) continue;
    touched[h.resource] = true;
    DropHolder(i);
  }
  Proc& p = hdr_->procs[pi];
  p.granted_head = kNone;
  p.revoked_head = kNone;
  __atomic_store_n(&p.state, kFree, __ATOMIC_RELEASE);
  hdr_->reclaimed_procs++;
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
  for (uint32_t i = 0; i < kMaxHolders; i++) {
    Holder& x = h->holders[i];
    if (x.state == kHeld && res_ok(x.resource) && proc_ok(x.proc)) {
      h->resources[x.resource].used += x.units;
      if (h->resources[x.resource].fence < x.fence) h->resources[x.resource].fence = x.fence;
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
  for (uint32_t i = 0; i < kMaxWaiters; i++) {
    Waiter& w = h->waiters[i];
    bool ok = (w.state == kWaiting || w.state == kGranted) && res_ok(w.resource) && proc_ok(w.proc);
    if (!ok) {
      w.state = kFree;
      continue;
    }
    h->waiters_hwm = i + 1;
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
  // A resource can be over capacity only if a grant was torn in a way the rules above missed;
  // it is then left to drain (no new grants until it fits again), never silently "fixed".
  h->repairs++;
  std::vector<uint32_t> wake;
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

// ---------------------------------------------------------------------------------------------
// Operations

AcquireResult ProcessLedger::Acquire(uint32_t r, uint64_t units, int32_t priority, uint32_t owner, uint32_t thread,
                                     bool queue, const std::string& label_in) {
  char label[kLabelMax] = {};
  memcpy(label, label_in.data(), label_in.size() < kLabelMax - 1 ? label_in.size() : kLabelMax - 1);
  AcquireResult out{AcquireStatus::kBusy};
  std::vector<uint32_t> wake;
  bool kick_self = false;
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
      uint32_t h = NewHolder(r, units, priority, proc_, pid_, owner, thread, label);
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
        w.resource = r;
        w.proc = proc_;
        w.owner = owner;
        w.thread = thread;
        w.priority = priority;
        w.pid = pid_;
        w.holder = kNone;
        w.next_granted = kNone;
        w.units = units;
        w.seq = hdr_->next_seq++;
        w.request = next_request_.fetch_add(1);
        w.since_ms = WallMs();
        memcpy(w.label, label, kLabelMax);
        __atomic_store_n(&w.state, kWaiting, __ATOMIC_RELEASE);
        res.waiting++;
        // A higher-priority newcomer may be the new head and fit right now.
        bool inline_granted = false;
        Schedule(r, &wake, wi, &inline_granted);
        if (inline_granted) {
          Holder& h = hdr_->holders[w.holder];
          out.status = AcquireStatus::kGranted;
          out.slot = w.holder;
          out.token = h.token;
          out.fence = h.fence;
        } else {
          out.status = AcquireStatus::kQueued;
          out.slot = wi;
          out.request = w.request;
          pending_.fetch_add(1);
          kick_self = deep_sleep_.load();  // wake it so it starts the liveness poll
        }
      }
    }
  }
  WakeAll(wake);
  if (kick_self) FutexBumpAndWake(&hdr_->procs[proc_].wake);
  return out;
}

CancelStatus ProcessLedger::Cancel(uint32_t wi, uint64_t request) {
  if (wi >= kMaxWaiters) return CancelStatus::kNotFound;
  CancelStatus out = CancelStatus::kNotFound;
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    Waiter& w = hdr_->waiters[wi];
    if (w.state == kFree || w.proc != proc_ || w.request != request) return out;
    uint32_t r = w.resource;
    if (w.state == kWaiting) {
      hdr_->resources[r].waiting--;
      out = CancelStatus::kRemoved;
    } else {  // kGranted, not yet picked up: give the hold straight back
      UnlinkGranted(wi);
      DropHolder(w.holder);
      out = CancelStatus::kReleasedGrant;
    }
    FreeWaiter(wi);
    pending_.fetch_sub(1);
    // The head leaving (or capacity freed) may let the next ones in.
    Schedule(r, &wake, kNone, nullptr);
  }
  WakeAll(wake);
  return out;
}

ReleaseStatus ProcessLedger::Release(uint32_t hi, uint64_t token) {
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    if (hi < kMaxHolders && hdr_->holders[hi].state == kRevoked && hdr_->holders[hi].token == token) {
      DropHolder(hi);  // the owner let go of what was already taken: nothing to free
      return ReleaseStatus::kWasRevoked;
    }
    if (hi >= kMaxHolders || hdr_->holders[hi].state != kHeld || hdr_->holders[hi].token != token) {
      hdr_->ownership_violations++;
      return ReleaseStatus::kNotOwner;
    }
    uint32_t r = hdr_->holders[hi].resource;
    FreeHolder(hi);
    Schedule(r, &wake, kNone, nullptr);
  }
  WakeAll(wake);
  return ReleaseStatus::kReleased;
}

void ProcessLedger::Forget(uint32_t hi, uint64_t token) {
  Locked lock(this);
  if (hi < kMaxHolders && hdr_->holders[hi].state == kRevoked && hdr_->holders[hi].token == token) {
    DropHolder(hi);
  }
}

bool ProcessLedger::Revoke(uint32_t hi, uint64_t token, uint32_t reason) {
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    if (hi >= kMaxHolders || hdr_->holders[hi].state != kHeld || hdr_->holders[hi].token != token) {
      return false;
    }
    Holder& h = hdr_->holders[hi];
    Resource& res = hdr_->resources[h.resource];
    res.used = res.used >= h.units ? res.used - h.units : 0;
    h.lost_reason = reason == 0 ? kLostRevoked : reason;
    Proc& p = hdr_->procs[h.proc];
    h.next_revoked = p.revoked_head;
    __atomic_store_n(&h.state, kRevoked, __ATOMIC_RELEASE);
    p.revoked_head = hi;
    wake.push_back(h.proc);
    Schedule(h.resource, &wake, kNone, nullptr);
  }
  WakeAll(wake);
  return true;
}

void ProcessLedger::ReleaseOwner(uint32_t owner) {
  std::vector<uint32_t> wake;
  {
    Locked lock(this);
    bool touched[kMaxResources] = {};
    for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
      Waiter& w = hdr_->waiters[i];
      if (w.state == kFree || w.proc != proc_ || w.owner != owner) continue;
      if (w.state == kWaiting) hdr_->resources[w.resource].waiting--;
      if (w.state == kGranted) UnlinkGranted(i);  // its holder has the same owner: freed below
      touched[w.resource] = true;
      FreeWaiter(i);
      pending_.fetch_sub(1);
    }
    for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
      Holder& h = hdr_->holders[i];
      if ((h.state != kHeld && h.state != kRevoked) || h.proc != proc_ || h.owner != owner) continue;
      touched[h.resource] = true;
      DropHolder(i);
    }
    for (uint32_t r = 0; r < kMaxResources; r++) {
      if (touched[r]) Schedule(r, &wake, kNone, nullptr);
    }
  }
  WakeAll(wake);
}

LedgerView ProcessLedger::Inspect(uint32_t only) {
  LedgerView v;
  std::vector<uint32_t> wake;
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
          v.resources.push_back({r.name, r.capacity, r.used, r.fence, r.external, r.waiting, r.closed != 0});
        }
      }
      for (uint32_t i = 0; i < hdr_->holders_hwm; i++) {
        const Holder& h = hdr_->holders[i];
        if (h.state != kHeld || (one && h.resource != only)) continue;
        v.holders.push_back({hdr_->resources[h.resource].name, std::string(h.label, strnlen(h.label, kLabelMax)),
                             h.pid, h.thread, h.owner, i, h.priority, h.units, h.fence, h.since_ms, h.proc == proc_});
      }
      for (uint32_t i = 0; i < hdr_->waiters_hwm; i++) {
        const Waiter& w = hdr_->waiters[i];
        if (w.state == kFree || (one && w.resource != only)) continue;
        v.waiters.push_back({hdr_->resources[w.resource].name, std::string(w.label, strnlen(w.label, kLabelMax)),
                             w.pid, w.thread, w.owner, w.priority, w.units, w.seq, w.since_ms, w.state == kGranted});
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
  for (uint32_t i = 0; i < kMaxProcs; i++) {
    Proc& p = hdr_->procs[i];
    if (p.state != kFree) continue;
    p.pid = pid;
    p.start_time = start_time;
    p.generation++;
    p.granted_head = kNone;
    p.revoked_head = kNone;
    InitRobustMutex(&p.alive);  // never locked: liveness falls back to pid + start time
    __atomic_store_n(&p.state, kHeld, __ATOMIC_RELEASE);
    static const char kInjected[kLabelMax] = "injected";
    return NewHolder(r, units, 0, i, pid, 0, 0, kInjected);
  }
  return kNone;
}

}  // namespace gpu_arbiter::host
