// ProcessLedger, part 1 of 6: opening the ledger file (creating it when needed) under the trust
// model, mapping and checking it, the lock, registering this process, and the handles' grant
// sinks. The model is in ledger.h; the shared layout and its write-order rule in
// ledger_layout.h; the trust model in docs/host-ledger.md. The other parts: ledger_resources.cc,
// ledger_slots.cc, ledger_grant.cc (the granter), ledger_repair.cc (crash repair, liveness,
// validation), ledger_inspect.cc.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "host/futex_wake.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"
#include "host/liveness.h"
#include "host/robust_lock.h"

namespace gpu_arbiter::host {

namespace {

// Process-wide table of mapped ledgers, keyed by the file's (dev, inode): worker_threads that
// open the same namespace share one mapping and one waiter thread. Guarded by RegistryMutex(),
// which only Open() takes: a ProcessLedger's destructor never does, so a ledger dropped while
// the mutex is held (a failed Open) cannot deadlock. Expired entries are pruned by Open().
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

std::string Octal(mode_t mode) {
  char buf[16];
  snprintf(buf, sizeof buf, "0%03o", static_cast<unsigned>(mode & 0777));
  return buf;
}

// Creates a fully initialised ledger under a temporary name and links it into place, so no
// process can ever map a half-initialised one. Its mode is access.mode whatever the umask, its
// group access.group. Returns false when another process won the race.
bool CreateLedgerFile(const std::string& path, const AccessOptions& access) {
  uint64_t nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != sizeof nonce) nonce = static_cast<uint64_t>(time(nullptr));
  std::string tmp = "/dev/shm/.gpu-arbiter-init-" + std::to_string(getpid()) + "-" + std::to_string(nonce);
  // 0600 until the group and mode are set: nobody else can open it meanwhile.
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot create", tmp)};
  auto fail = [&](const char* code, const std::string& msg) {
    close(fd);
    unlink(tmp.c_str());
    throw LedgerError{code, msg};
  };
  if (access.group != static_cast<gid_t>(-1) && fchown(fd, static_cast<uid_t>(-1), access.group) != 0) {
    fail("E_INVALID_ARGUMENT", "cannot give the new ledger " + path + " to group " + std::to_string(access.group) +
                                   ": " + strerror(errno) + " (only root or a member of the group can)");
  }
  if (fchmod(fd, access.mode) != 0) fail("E_BACKEND_UNAVAILABLE", Errno("cannot set the mode of", tmp));
  size_t size = sizeof(Header);
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) fail("E_BACKEND_UNAVAILABLE", Errno("cannot size", tmp));
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mem == MAP_FAILED) fail("E_BACKEND_UNAVAILABLE", Errno("cannot map", tmp));
  close(fd);
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

// open() failed with EACCES/EPERM: say whose file it is and how it is shared.
LedgerError AccessDenied(const std::string& path) {
  struct stat st;
  std::string whose;
  if (stat(path.c_str(), &st) == 0) {
    whose = " (owner uid " + std::to_string(st.st_uid) + ", group " + std::to_string(st.st_gid) + ", mode " +
            Octal(st.st_mode) + ")";
  }
  return LedgerError{"E_BACKEND_UNAVAILABLE",
                     "cannot open " + path + whose + " as uid " + std::to_string(geteuid()) +
                         ": it is not shared with this user. Ledgers are private to their creator by default; "
                         "share one with a group by creating it with { group, mode: 0o660 } (every user of the "
                         "namespace in that group), or use another namespace",
                     kAccessReason};
}

// The trust model (docs/host-ledger.md): whoever can write a ledger can take GPUs away from its
// users or stall them, so only a file owned by this process's user, root, or a uid the caller
// trusts is used, and never one open to every user. A file of ours that is open to every user
// (made by a version that followed the umask) is closed to them here. Closes fd when it throws.
void CheckTrusted(int fd, const std::string& path, const std::string& ns, const std::vector<uid_t>& trusted,
                  struct stat* st) {
  auto refuse = [&](const char* code, const std::string& msg, const char* reason) {
    close(fd);
    throw LedgerError{code, msg, reason};
  };
  if (fstat(fd, st) != 0) refuse("E_BACKEND_UNAVAILABLE", Errno("cannot stat", path), "");
  if (!S_ISREG(st->st_mode)) refuse("E_LEDGER_UNTRUSTED", path + " is not a regular file", "");
  const uid_t me = geteuid();
  const uid_t owner = st->st_uid;
  const bool trusted_owner =
      owner == me || owner == 0 || std::find(trusted.begin(), trusted.end(), owner) != trusted.end();
  const std::string remove = "rm /dev/shm/gpu-arbiter-" + ns + " (or removeHostNamespace('" + ns + "'))";
  if (!trusted_owner) {
    refuse(
        "E_LEDGER_UNTRUSTED",
        path + " belongs to uid " + std::to_string(owner) + ", not to this process's user (uid " + std::to_string(me) +
            ") or root: whoever can write a ledger can take GPUs away from its users, so it is not opened. If uid " +
            std::to_string(owner) + " runs a service you share GPUs with, pass trustOwner: " + std::to_string(owner) +
            "; if not, someone may be squatting the namespace: remove it (" + remove + ") and restart",
        "");
  }
  if ((st->st_mode & 0007) != 0) {
    if (owner == me && fchmod(fd, st->st_mode & 0770) == 0) {
      st->st_mode &= ~static_cast<mode_t>(0007);
      return;
    }
    refuse("E_LEDGER_UNTRUSTED",
           path + " is open to every user of the host (mode " + Octal(st->st_mode) +
               "): any of them could read its tokens and take GPUs away. Its owner (uid " + std::to_string(owner) +
               ") closes it by opening it once with this version, or remove it once no process uses it (" + remove +
               ")",
           "");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The ledger lock. Whoever finds it owner-died repairs the ledger before doing anything else. It
// is never waited for longer than kLockTimeoutMs, and a mapping found corrupt is never used.
ProcessLedger::Locked::Locked(ProcessLedger* l) : l_(l) {
  // One load: a lock whose type was overwritten would take pthread into another mutex type's code.
  if (!RobustMutexTypeIntact(&l->hdr_->lock)) l->Corrupt("the ledger lock is damaged");
  LockOutcome o = LockRobustFor(&l->hdr_->lock, kLockTimeoutMs);
  if (o == LockOutcome::kTimedOut) {
    throw LedgerError{"E_BACKEND_UNAVAILABLE",
                      "the lock of the host ledger " + l->path_ + " has been held for more than " +
                          std::to_string(kLockTimeoutMs / 1000) +
                          " s: a process is stopped (SIGSTOP, a debugger) or hung inside it, or the ledger is "
                          "corrupt (gpu-arbiter status lists its processes; if it stays stuck, remove it: rm /dev/shm/"
                          "gpu-arbiter-" +
                          l->ns_ + ")",
                      kLockTimeoutReason};
  }
  if (o == LockOutcome::kUnrecoverable) {
    // Only possible if some process unlocked an owner-died lock without repairing it (not our
    // code). Nothing safe can be done: say how to recover.
    throw LedgerError{"E_BACKEND_UNAVAILABLE",
                      "the host ledger " + l->path_ +
                          " is unrecoverable (its lock was left inconsistent); remove it once no process uses it: "
                          "rm /dev/shm/gpu-arbiter-" +
                          l->ns_ + " (or removeHostNamespace('" + l->ns_ + "'))",
                      kCorruptReason};
  }
  try {
    if (o == LockOutcome::kOwnerDied) {
      l->Repair();
      MarkConsistent(&l->hdr_->lock);
    }
    if (l->corrupt_.load()) l->Corrupt("");
    // Scan bounds come from shared memory: never loop past a table.
    if (l->hdr_->holders_hwm > kMaxHolders) {
      l->Corrupt("holder scan bound " + std::to_string(l->hdr_->holders_hwm) + " out of range");
    }
    if (l->hdr_->waiters_hwm > kMaxWaiters) {
      l->Corrupt("waiter scan bound " + std::to_string(l->hdr_->waiters_hwm) + " out of range");
    }
  } catch (...) {
    if (o == LockOutcome::kOwnerDied) MarkConsistent(&l->hdr_->lock);
    pthread_mutex_unlock(&l->hdr_->lock);
    throw;
  }
}

ProcessLedger::Locked::~Locked() { pthread_mutex_unlock(&l_->hdr_->lock); }

// Marks the mapping unusable and throws. Called with the ledger lock held.
void ProcessLedger::Corrupt(const std::string& what) {
  std::string first;
  {
    std::lock_guard<std::mutex> g(corrupt_mu_);
    if (corrupt_what_.empty()) corrupt_what_ = what.empty() ? std::string("found by an earlier check") : what;
    first = corrupt_what_;
  }
  corrupt_.store(true);
  throw LedgerError{"E_BACKEND_UNAVAILABLE",
                    "the host ledger " + path_ + " is corrupt (" + first +
                        "): it is not used, so nothing is granted on garbage. Remove it once no process "
                        "uses it: rm /dev/shm/gpu-arbiter-" +
                        ns_ + " (or removeHostNamespace('" + ns_ + "')); the next user creates a new one",
                    kCorruptReason};
}

int ProcessLedger::OpenTrusted(const std::string& ns, bool create, const AccessOptions& access, struct stat* st) {
  std::string path = "/dev/shm/gpu-arbiter-" + ns;
  int fd = -1;
  for (int attempt = 0; fd < 0; attempt++) {
    fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) break;
    if (errno == ENOENT && !create) {
      throw LedgerError{"E_BACKEND_UNAVAILABLE", "There is no host ledger " + path};
    }
    if (errno == ELOOP) {
      throw LedgerError{"E_LEDGER_UNTRUSTED", path + " is a symbolic link, not a ledger: remove it (rm " + path + ")"};
    }
    if (errno == EACCES || errno == EPERM) throw AccessDenied(path);
    if (errno != ENOENT || attempt > 3) {
      throw LedgerError{"E_BACKEND_UNAVAILABLE", Errno("cannot open", path)};
    }
    CreateLedgerFile(path, access);  // false = another process created it first: open theirs
  }
  CheckTrusted(fd, path, ns, access.trusted, st);  // closes fd when it throws
  return fd;
}

// Maps the ledger file open on `fd` (closed here) and checks magic, version and sizes before
// anything else is trusted. Any thread.
Header* ProcessLedger::MapValidated(int fd, const std::string& path, const std::string& ns, const struct stat& st) {
  const std::string remove = "; use another namespace, or remove it once no process uses it: rm /dev/shm/gpu-arbiter-" +
                             ns + " (or removeHostNamespace('" + ns + "'))";
  // Validate before trusting a single field beyond the magic.
  if (static_cast<size_t>(st.st_size) < sizeof(uint64_t) * 2) {
    close(fd);
    throw LedgerError{"E_BACKEND_UNAVAILABLE", path + " is not a gpu-arbiter host ledger (too small)" + remove,
                      kIncompatibleReason};
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
    throw LedgerError{"E_BACKEND_UNAVAILABLE", problem + remove, kIncompatibleReason};
  }
  return h;
}

// ---------------------------------------------------------------------------------------------
std::shared_ptr<ProcessLedger> ProcessLedger::Open(const std::string& ns, bool create, const AccessOptions& access) {
  struct stat st;
  int fd = OpenTrusted(ns, create, access, &st);
  std::lock_guard<std::mutex> reg_lock(RegistryMutex());
  for (auto it = Registry().begin(); it != Registry().end();) {
    it = it->second.expired() ? Registry().erase(it) : std::next(it);
  }
  RegistryKey key{st.st_dev, st.st_ino};
  auto it = Registry().find(key);
  if (it != Registry().end()) {
    if (auto existing = it->second.lock()) {
      close(fd);
      if (existing->corrupt_.load()) {
        Locked lock(existing.get());  // throws the corrupt-ledger error
      }
      return existing;
    }
  }
  Header* h = MapValidated(fd, "/dev/shm/gpu-arbiter-" + ns, ns, st);  // closes fd
  // From here a failure destroys `l` with RegistryMutex held: fine, the destructor never takes it.
  std::shared_ptr<ProcessLedger> l(new ProcessLedger());
  l->Adopt(ns, h, st);
  l->ReadTestHooks();
  if (!l->no_direct_) l->sender_ = std::make_unique<DirectWakeSender>();
  l->Register();
  l->thread_ = std::thread([raw = l.get()] { raw->ThreadMain(); });
  if (!l->no_watch_) l->watcher_ = std::thread([raw = l.get()] { raw->WatchMain(); });
  Registry()[key] = l;
  return l;
}

// Takes over the validated mapping `h` of namespace `ns` (Open() and Peek()): who we are, a
// seeded token generator (Peek's sweep may grant too: a reclaimed or expired hold frees units for
// a waiter, and a grant makes a lease token), and the layout checked under the lock.
void ProcessLedger::Adopt(const std::string& ns, Header* h, const struct stat& st) {
  path_ = "/dev/shm/gpu-arbiter-" + ns;
  ns_ = ns;
  hdr_ = h;
  size_ = static_cast<size_t>(st.st_size);
  pid_ = getpid();
  start_time_ = ProcessStartTime(pid_);
  SeedTokens();
  Locked lock(this);
  Validate();
}

// A status read that leaves no trace: no process registration, no waiter thread, its own
// short-lived mapping. It still takes the lock (and so repairs after a crash) and reclaims dead
// processes, so what it shows is live. JS thread.
LedgerView ProcessLedger::Peek(const std::string& ns, const std::vector<uid_t>& trusted) {
  struct stat st;
  AccessOptions access;
  access.trusted = trusted;
  int fd = OpenTrusted(ns, false, access, &st);
  Header* h = MapValidated(fd, "/dev/shm/gpu-arbiter-" + ns, ns, st);
  std::unique_ptr<ProcessLedger> l(new ProcessLedger());
  l->Adopt(ns, h, st);
  return l->Inspect();  // ~ProcessLedger unmaps; nothing registered, no thread to stop
}

// Runs on the JS thread that dropped the last handle of this process on this ledger (or in a
// failed Open(), with RegistryMutex held: so it never takes that mutex).
ProcessLedger::~ProcessLedger() {
  stop_.store(true);
  FutexBumpAndWake(&watch_ctl_);
  if (watcher_.joinable()) watcher_.join();
  if (hdr_ != nullptr && proc_ != kNone) FutexBumpAndWake(&hdr_->procs[proc_].wake);
  if (thread_.joinable()) thread_.join();  // the thread lets go of `alive` as it leaves
  try {
    Unregister();
  } catch (const LedgerError&) {
  }
  if (hdr_ != nullptr) munmap(hdr_, size_);
}

void ProcessLedger::Register() {
  Wakes wake;
  {
    Locked lock(this);
    Sweep(&wake);  // a dead process's slot is freed here, so slots do not run out
    proc_ = ClaimProcSlot(pid_, start_time_, wake_key_);
  }
  WakeAll(wake);
  if (proc_ == kNone) {
    throw LedgerError{"E_LEDGER_FULL", path_ + " has no free process slot: " + std::to_string(kMaxProcs) +
                                           " processes (the most one namespace holds) have it open. Close the "
                                           "ledgers of processes that do not need them, or give some of them "
                                           "another namespace"};
  }
}

void ProcessLedger::Unregister() {
  if (proc_ == kNone) return;
  Wakes wake;
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

}  // namespace gpu_arbiter::host
