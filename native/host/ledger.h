#pragma once
// ProcessLedger: this process's view of one shared ledger (one mapping of
// /dev/shm/gpu-arbiter-<namespace>), shared by every JS environment (main thread and
// worker_threads) of the process that opened the same namespace. It owns:
//   - the mapping and this process's Proc slot (registration, liveness mutex);
//   - the one waiter thread of the process for this ledger (see waiter_thread.cc);
//   - the holder watcher thread, which sleeps on the holders' liveness words while this process
//     has waiters, so a dead holder is reclaimed at kernel speed (holder_watch.cc);
//   - the direct-wake sockets of its JS environments' loops (direct_wake.h, ledger_loops.cc);
//   - the table of grant sinks (one per open HostLedger handle, i.e. per `owner`).
// Every ledger operation takes the robust process-shared lock in the header for a few
// microseconds; nothing here ever waits for a grant on the calling thread.
#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/coded_error.h"
#include "host/direct_wake.h"
#include "host/ledger_layout.h"

namespace gpu_arbiter::host {

// A grant picked up by the waiter thread for one of this process's waiters.
struct GrantInfo {
  uint32_t owner;
  uint64_t request;  // 0 for a revocation notice
  uint32_t holder;
  uint64_t token;
  uint64_t fence;
  uint32_t lost_reason;  // 0: a grant; else the hold `holder`/`token` was revoked (see Holder)
  // A grant of an all-or-nothing request: its members arrive one after another, each with the
  // resource it holds; `gang` says how many there are (0 or 1: a single grant).
  uint32_t resource = kNone;
  uint32_t gang = 0;
};

// Receives grants for one owner. Deliver() runs on the waiter thread with the sink table lock
// held, so a sink removed by RemoveSink() is never called afterwards. DeliverOnLoop() runs on the
// JS thread of the sink's own environment, when its loop was woken directly (direct_wake.h).
class GrantSink {
 public:
  virtual ~GrantSink() = default;
  virtual void Deliver(const GrantInfo& grant) = 0;
  virtual void DeliverOnLoop(const GrantInfo& grant) = 0;
  // The event loop of the sink's environment (fixed at construction): DeliverOnLoop() is only
  // ever called from that loop's thread.
  virtual const uv_loop_s* Loop() const = 0;
};

// Someone to wake once the ledger lock is let go (collected under the lock, woken after it).
struct WakeTarget {
  enum Kind : uint32_t {
    kFutex = 0,     // the process's waiter thread (futex word)
    kGrant = 1,     // a grant for `thread` of the process: its loop directly, else kFutex
    kWatchers = 2,  // processes watching this one's `alive` word (holder_watch.cc): look again
    kWatchersAll = 3,  // the same, even if none marked the word (the process was reclaimed)
  };
  uint32_t proc;
  uint32_t thread = kNone;
  Kind kind = kFutex;
  WakeTarget(uint32_t p) : proc(p) {}  // NOLINT: a bare process index wakes its waiter thread
  WakeTarget(uint32_t p, uint32_t t, Kind k) : proc(p), thread(t), kind(k) {}
  bool operator==(const WakeTarget& o) const { return proc == o.proc && thread == o.thread && kind == o.kind; }
};
using Wakes = std::vector<WakeTarget>;

// How this process's grants reached JS, and what reclaimed dead holders while it waited
// (host.wakeStats() in native/host/host_module.cc; tests assert the path by these counts).
struct WakeStats {
  uint64_t loop_deliveries;    // grants/notices picked up by an event loop woken by a datagram
  uint64_t thread_deliveries;  // grants/notices handed over by the waiter thread (TSFN)
  uint64_t direct_sends;       // datagrams this process sent to a waiting loop
  uint64_t futex_wakes;        // waiter threads this process woke
  uint64_t watch_reclaims;     // dead processes reclaimed by this process's holder watcher
  uint64_t poll_sweeps;        // liveness sweeps run by the waiter thread's poll
};

// Thrown by Open/DefineResource and by any operation that finds the ledger corrupt, its lock
// stuck, or its file untrusted (any thread): `code` is a GpuArbiterError code, `reason` one of
// the k*Reason strings below where the code alone does not say it. The JS-thread entry points
// (ledger_wrap.cc, host_module.cc) turn it into a coded JS Error.
using LedgerError = common::CodedError;
// LedgerError::reason values (GpuArbiterError details.reason in TypeScript).
inline constexpr const char* kCorruptReason = "corrupt";  // E_BACKEND_UNAVAILABLE
inline constexpr const char* kIncompatibleReason =
    "incompatible";                                                // E_BACKEND_UNAVAILABLE: not a ledger of this layout
inline constexpr const char* kLockTimeoutReason = "lock-timeout";  // E_BACKEND_UNAVAILABLE
inline constexpr const char* kAccessReason = "access";             // E_BACKEND_UNAVAILABLE: the file mode refuses us
// How long an operation waits for the ledger lock (held for microseconds by every healthy user)
// before it fails with kLockTimeoutReason instead of hanging.
constexpr int kLockTimeoutMs = 5000;

// Who may own a ledger file this process maps, and how a ledger this process creates is shared
// (HostLedgerOptions.mode / group / trustOwner in src/backends/host/options.ts; the trust model
// is in docs/host-ledger.md, "Trust model").
struct AccessOptions {
  // Mode of a ledger file this call creates (umask does not apply): 0600, or 0660 to share it
  // with `group`.
  mode_t mode = 0600;
  // Group of a ledger file this call creates; (gid_t)-1: the creating process's.
  gid_t group = static_cast<gid_t>(-1);
  // Owners trusted besides this process's effective uid and root (uid 0).
  std::vector<uid_t> trusted;
};

// The results below are returned to JS as these numbers; the addon exports them by name
// (host.codes, see StatusCodes() in ledger_wrap.cc), so TypeScript never mirrors them.
enum class AcquireStatus : int {
  kGranted = 0,
  kQueued = 1,
  kBusy = 2,        // queue=false and it cannot be granted now
  kDoesNotFit = 3,  // more units than the capacity
  kTableFull = 4,   // no free holder/waiter slot
  kUnknownResource = 5,
};

struct AcquireResult {
  AcquireStatus status;
  uint32_t slot = kNone;  // holder slot (kGranted) or waiter slot (kQueued)
  uint64_t token = 0;
  uint64_t fence = 0;
  uint64_t request = 0;  // kQueued
};

// One hold of an all-or-nothing grant (AcquireSet).
struct SetMember {
  uint32_t resource, slot;
  uint64_t token, fence;
};
struct AcquireSetResult {
  AcquireStatus status;
  uint32_t slot = kNone;  // kQueued: the leading waiter slot (what Cancel takes)
  uint64_t request = 0;   // kQueued
  std::vector<SetMember> members;  // kGranted: one per resource, in the order asked
};

// kNotFound: the grant is already on its way to the JS thread (it releases it on arrival).
enum class CancelStatus : int { kRemoved = 0, kReleasedGrant = 1, kNotFound = 2 };
// kWasRevoked / kWasExpired: the hold had been taken away before its holder released it (the
// holder's notice had not reached it yet); kWasExpired when the ledger took it for outliving
// revokeAfterMs, so the holder's `lost` names the reason the ledger had.
enum class ReleaseStatus : int { kReleased = 0, kWasRevoked = 1, kNotOwner = 2, kWasExpired = 3 };

struct HolderView {
  std::string resource;
  std::string label;
  int32_t pid;
  uint32_t thread, owner, holder;
  int32_t priority;
  uint64_t units, fence;
  int64_t since_ms;
  bool mine;
};
struct WaiterView {
  std::string resource;
  std::string label;
  int32_t pid;
  uint32_t thread, owner;
  int32_t priority;
  uint64_t units, seq;
  int64_t since_ms;
  bool granted;
};
struct ResourceView {
  std::string name;
  uint64_t capacity, used, fence, external;
  uint32_t waiting;
  bool closed;
};

// What placement reads on every decision (Backend.usage in src/backends/contract.ts).
struct ResourceUsage {
  uint64_t capacity, external, used;
  bool closed;
  uint32_t waiting;
  bool has_head;
  int32_t head_priority;
};
struct LedgerView {
  std::vector<ResourceView> resources;
  std::vector<HolderView> holders;
  std::vector<WaiterView> waiters;
  // Whole-ledger views only (empty/0 in a view of one resource):
  std::vector<std::pair<int32_t, uint64_t>> procs;  // pid, start time
  uint64_t ownership_violations = 0, repairs = 0, reclaimed_procs = 0, grants = 0;
};

class ProcessLedger : public std::enable_shared_from_this<ProcessLedger> {
 public:
  // Maps (creating if needed) the ledger of `ns`, or returns this process's existing mapping of
  // the same file. create=false: fail if there is no ledger yet. JS thread. Throws LedgerError:
  // E_LEDGER_UNTRUSTED (owned by an untrusted uid, or open to every user), E_LEDGER_FULL (no
  // free process slot), E_BACKEND_UNAVAILABLE (none, unreadable, incompatible or corrupt).
  static std::shared_ptr<ProcessLedger> Open(const std::string& ns, bool create, const AccessOptions& access);
  // Reads the ledger of `ns` without registering this process or starting a thread (status
  // tools). JS thread. Throws LedgerError as Open does (E_BACKEND_UNAVAILABLE when there is none).
  static LedgerView Peek(const std::string& ns, const std::vector<uid_t>& trusted);
  ~ProcessLedger();
  ProcessLedger(const ProcessLedger&) = delete;
  ProcessLedger& operator=(const ProcessLedger&) = delete;

  // JS thread: sinks (one per handle). AddSink returns the owner id stamped on the handle's
  // holds and waiters; RemoveSink stops deliveries, then ReleaseOwner frees what it held.
  uint32_t AddSink(GrantSink* sink);
  void RemoveSink(uint32_t owner);
  void ReleaseOwner(uint32_t owner);

  // JS thread. Returns the resource index; throws LedgerError on a full table, and on a
  // capacity mismatch unless `update` (then the capacity is replaced and waiters rescheduled).
  uint32_t DefineResource(const std::string& name, uint64_t capacity, bool update);
  // JS thread: external units and the closed flag (see Resource); reschedules its waiters.
  void SetResourceState(uint32_t resource, uint64_t external, bool closed);
  // JS thread: the figures placement needs, under the lock.
  ResourceUsage Usage(uint32_t resource);
  // Index of a resource another process defined, or kNone.
  uint32_t FindResource(const std::string& name);

  // JS thread. queue=false: grant now or kBusy; queue=true: grant now or enqueue (one lock
  // round trip either way: the uncontended request is granted inline).
  // revoke_after_ms: once the hold is that old, any process of the host revokes it (kLostExpired)
  // on its next sweep (0: never).
  AcquireResult Acquire(uint32_t resource, uint64_t units, int32_t priority, uint32_t owner, uint32_t thread,
                        bool queue, const std::string& label, uint64_t revoke_after_ms = 0);
  // JS thread. All of `resources` (distinct, 2..kMaxGang), `units` each, in one step or none:
  // no other process ever sees a part of it held. Queued, it waits in each resource's queue
  // under one arrival number, and is granted once it is the head of every one of them and fits
  // on each (docs/host-ledger.md, "All-or-nothing requests").
  AcquireSetResult AcquireSet(const std::vector<uint32_t>& resources, uint64_t units, int32_t priority, uint32_t owner,
                              uint32_t thread, bool queue, const std::string& label, uint64_t revoke_after_ms = 0);
  // JS thread (all below, to Inspect). For an all-or-nothing request, `waiter` is its leading
  // slot and the whole request is cancelled (or its grant given back).
  CancelStatus Cancel(uint32_t waiter, uint64_t request);
  // kNotOwner: the slot is not held with this token (refused, counted host-wide);
  // kWasRevoked: it was, but the hold had been revoked (nothing to give back, not a violation).
  // A hold of another handle (`owner`) or process ends exactly as Revoke(kLostRevoked) ends it:
  // its units are free at once and its holder is told through its waiter thread (kReleased).
  ReleaseStatus Release(uint32_t holder, uint64_t token, uint32_t owner);
  // Release of several holds (a set's) under one lock: one status each, in order.
  std::vector<ReleaseStatus> ReleaseSet(const std::vector<std::pair<uint32_t, uint64_t>>& holds, uint32_t owner);
  // Takes a hold away from any process of the host: its units are free at once, and its
  // process learns through its waiter thread (the grant's `lost` aborts). false: not held.
  bool Revoke(uint32_t holder, uint64_t token, uint32_t reason);
  // JS thread, after the revocation notice reached the grant: frees the kRevoked slot. No-op
  // (and not counted) if it is not a revoked hold with this token.
  void Forget(uint32_t holder, uint64_t token);
  // Reclaims dead processes, then copies the ledger; with `only` a resource index, copies that
  // resource and its holders and waiters alone (no processes or counters), or nothing when no
  // such resource is defined.
  LedgerView Inspect(uint32_t only = kNone);

  // Test hooks (JS thread). ParkInLock never returns: it takes the lock, leaves a torn update
  // behind and sleeps until the process is killed. InjectHolder makes a holder that claims to
  // belong to process (pid, start_time), for the pid-reuse test.
  [[noreturn]] void TestParkInLock();
  uint32_t TestInjectHolder(uint32_t resource, uint64_t units, int32_t pid, uint64_t start_time);

  pid_t pid() const { return pid_; }

  // Direct wake (direct_wake.h). JS thread of environment `thread`: makes (or shares) that
  // environment's socket and loop watch; false when it cannot (grants then come through the
  // waiter thread). Each successful AttachLoop is paired with one DetachLoop on that thread.
  bool AttachLoop(uv_loop_s* loop, uint32_t thread);
  void DetachLoop(uint32_t thread);
  // This process's counters, over all its ledgers.
  static WakeStats Stats();

 private:
  ProcessLedger() = default;
  // Opens the ledger file of `ns` (never through a symlink; creating it first when `create`)
  // and checks its owner and mode against the trust model, tightening the mode of a file of
  // ours that is open to every user. Fills *st; returns the fd. Throws LedgerError.
  static int OpenTrusted(const std::string& ns, bool create, const AccessOptions& access, struct stat* st);
  // Maps the file open on `fd` (closes it) and checks magic, version and sizes.
  static Header* MapValidated(int fd, const std::string& path, const std::string& ns, const struct stat& st);
  // RAII ledger lock; whoever finds it owner-died repairs the ledger first (Repair()).
  class Locked {
   public:
    explicit Locked(ProcessLedger* l);
    ~Locked();
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

   private:
    ProcessLedger* l_;
  };

  void Register();    // claims a Proc slot (under the lock)
  // JS thread of environment `thread` (its loop was woken): picks up that thread's grants and
  // revocation notices and hands them to their sinks.
  void DeliverToLoop(uint32_t thread, const uv_loop_s* loop);
  // Under the lock: takes the grants and revocation notices of JS thread `thread` (kNone: all
  // but the threads in `skip`, whose own loops take them) off this process's lists, in the order
  // they were made, onto `out`. Threads skipped with something waiting go onto `skipped`.
  void TakeGrantsLocked(uint32_t thread, std::vector<GrantInfo>* out, const std::vector<uint32_t>* skip = nullptr,
                        std::vector<uint32_t>* skipped = nullptr);
  // The JS threads whose event loops take their own grants (AttachLoop), now.
  std::vector<uint32_t> LoopThreads();
  // The holder watcher (holder_watch.cc): while this process has waiters, sleeps on the `alive`
  // words of the processes holding what they wait for, so a holder's death wakes it at once.
  void WatchMain();
  // Under the lock: picks the processes to watch and marks their words (FUTEX_WAITERS); returns
  // how many (at most `max`), their words and the values to sleep on.
  uint32_t PickWatchTargets(uint32_t max, uint32_t** words, uint32_t* values);
  void Unregister();  // frees it (under the lock), after the waiter thread let go of `alive`
  void ThreadMain();  // the waiter thread

  // All below: caller holds the ledger lock. `wake` collects Proc slots to wake after unlock.
  void Repair();
  // Checks every state, index, list and bound of the tables (at open and status reads); throws
  // Corrupt() at the first that is wrong.
  void Validate();
  // Marks this mapping unusable and throws the corrupt-ledger LedgerError naming `what`. Every
  // later operation of this process on the mapping fails the same way (Locked).
  [[noreturn]] void Corrupt(const std::string& what);
  // Slot accessors for indices read from shared memory: Corrupt() when out of range.
  Resource& ResAt(uint32_t r) {
    if (r >= kMaxResources) Corrupt("resource index out of range: " + std::to_string(r));
    return hdr_->resources[r];
  }
  Proc& ProcAt(uint32_t p) {
    if (p >= kMaxProcs) Corrupt("process index out of range: " + std::to_string(p));
    return hdr_->procs[p];
  }
  Holder& HolderAt(uint32_t h) {
    if (h >= kMaxHolders) Corrupt("holder index out of range: " + std::to_string(h));
    return hdr_->holders[h];
  }
  Waiter& WaiterAt(uint32_t w) {
    if (w >= kMaxWaiters) Corrupt("waiter index out of range: " + std::to_string(w));
    return hdr_->waiters[w];
  }
  // Release() under the lock; the resources it freed go to `freed` (the caller schedules them).
  ReleaseStatus ReleaseLocked(uint32_t holder, uint64_t token, uint32_t owner, Wakes* wake,
                              std::vector<uint32_t>* freed);
  // Revokes held slot `h` for `reason`: units free at once, its process told (waiter thread).
  void RevokeLocked(uint32_t h, uint32_t reason, Wakes* wake);
  // Revokes the holds whose revoke_at_ms has passed (kLostExpired); Sweep runs it.
  void ExpireHolds(Wakes* wake);
  uint32_t DefineLocked(const std::string& name, uint64_t capacity, bool update, Wakes* wake);
  void Sweep(Wakes* wake);
  bool ProcDead(uint32_t i);
  void ReclaimProc(uint32_t p, Wakes* wake);
  void Schedule(uint32_t r, Wakes* wake, uint32_t inline_waiter, bool* inline_granted);
  // All-or-nothing requests (ledger_gang.cc). GangMembers: the slots (in `state`, or any state
  // when kFree) of the request `member` belongs to, lowest first; Corrupt() unless there are
  // exactly Waiter::gang of them. IsHead: no waiter on its resource is ahead of it.
  uint32_t GangMembers(uint32_t member, uint32_t* out);
  bool IsHead(uint32_t waiter);
  // Grants the request `member` belongs to if every member is the head of its queue and fits.
  // deliver: push the lead on its process's granted list (else the caller collects the holds).
  bool TryGrantGang(uint32_t member, Wakes* wake, bool deliver);
  CancelStatus CancelGang(uint32_t lead, Wakes* wake);
  // Repair of one all-or-nothing request (`members`: its live slots, lowest first) after its
  // process died inside the lock: wholly granted, its lead goes back on the granted list; torn
  // (members missing, or granted in part), what it holds is given back and it queues again.
  void RepairGang(const std::vector<uint32_t>& members);
  uint32_t NewHolder(uint32_t r, uint64_t units, int32_t priority, uint32_t proc, int32_t pid, uint32_t owner,
                     uint32_t thread, const char* label, uint64_t revoke_after_ms);
  static bool Fits(const Resource& r, uint64_t units);
  void FreeHolder(uint32_t h);
  void DropHolder(uint32_t h);  // kHeld or kRevoked -> kFree, whichever it is
  void UnlinkRevoked(uint32_t h);
  uint32_t NewWaiterSlot();
  // Every field of a new waiter of this process but its state (written last, by the caller).
  struct WaiterFields {
    uint32_t resource, owner, thread;
    int32_t priority;
    uint64_t units;
    uint32_t gang;
    uint64_t seq, request;
    int64_t since_ms;
    uint64_t revoke_after_ms;
    const char* label;  // kLabelMax bytes
  };
  void FillWaiter(Waiter& w, const WaiterFields& f);
  void FreeWaiter(uint32_t w);
  void UnlinkGranted(uint32_t w);
  void Adopt(const std::string& ns, Header* h, const struct stat& st);  // ledger_open.cc
  void SeedTokens();  // ledger_slots.cc: before the first grant of any ProcessLedger
  uint32_t ClaimProcSlot(int32_t pid, uint64_t start_time, uint64_t wake_key);  // ledger_slots.cc
  uint64_t NextToken();
  void WakeAll(const Wakes& wake);

  std::string path_;
  std::string ns_;
  Header* hdr_ = nullptr;
  size_t size_ = 0;
  pid_t pid_ = 0;
  uint64_t start_time_ = 0;
  uint32_t proc_ = kNone;
  uint64_t rng_ = 0;  // token generator state; used under the ledger lock only

  // Set once this process found the mapping corrupt (Corrupt()), with what it found.
  std::atomic<bool> corrupt_{false};
  std::mutex corrupt_mu_;
  std::string corrupt_what_;

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};  // this process's waiters in the ledger (drives the poll)
  // True while the waiter thread sleeps with no timeout; Acquire() then kicks it when it queues
  // a waiter, so the liveness poll starts. (Dekker pair with pending_, both seq_cst.)
  std::atomic<bool> deep_sleep_{false};

  // Test hooks (GPU_ARBITER_TEST_HOOKS=1 and the variable named): GPU_ARBITER_TEST_NO_POLL
  // stops the waiter thread's liveness poll, GPU_ARBITER_TEST_NO_DIRECT_WAKE gives this process
  // no wake key, GPU_ARBITER_TEST_NO_WATCH stops the holder watcher, GPU_ARBITER_TEST_NO_WAITV
  // makes the watcher sleep on one word as where futex_waitv is missing (for the process).
  bool no_poll_ = false, no_direct_ = false, no_watch_ = false;
  void ReadTestHooks();  // Open(), before Register()
  uint64_t wake_key_ = 0;  // Proc::wake_key of our slot (0: no direct wake)

  std::unique_ptr<DirectWakeSender> sender_;
  std::mutex loops_mu_;
  struct Loop {
    LoopWaker* waker;
    const uv_loop_s* loop;
    int refs;
  };
  std::map<uint32_t, Loop> loops_;  // by JS threadId

  std::thread watcher_;
  // The watcher's own futex word: bumped to make it look again (a new waiter, stop).
  std::atomic<uint32_t> watch_ctl_{0};
  std::atomic<bool> watch_idle_{false};  // it sleeps until kicked (no waiters)

  std::mutex sinks_mu_;
  std::map<uint32_t, GrantSink*> sinks_;
  uint32_t next_owner_ = 1;
  std::atomic<uint64_t> next_request_{1};
};

}  // namespace gpu_arbiter::host
