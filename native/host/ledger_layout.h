#pragma once
// The shared-memory layout of a host ledger (/dev/shm/gpu-arbiter-<namespace>).
//
// Every process of the host that opens the namespace maps this same file, so everything here is
// plain old data at fixed offsets: no pointers, only slot indices. Any change to a struct below
// MUST bump kLayoutVersion, so an older build that maps a newer ledger (or the reverse) fails
// at open() with a clear error instead of reading garbage.
//
// Write order rule (what makes repair after a crash inside the lock possible): a slot's fields
// are written first and its `state` last; derived counters (Resource::used, ::waiting) are
// recomputed from the slot tables by Repair(), never trusted after EOWNERDEAD.
#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace gpu_arbiter::host {

// "GPUARBLG" read as a little-endian u64.
constexpr uint64_t kLedgerMagic = 0x474C425241555047ULL;
// 2: Holder::revoke_at_ms, Waiter::revoke_after_ms, Header::next_expiry_ms (issue 13).
// 3: Waiter::gang (all-or-nothing requests over several resources), labels of 128 bytes (issue 14).
// 4: Proc::wake_key (direct wake of a waiting event loop, issue 17).
constexpr uint32_t kLayoutVersion = 4;

constexpr uint32_t kMaxResources = 64;
constexpr uint32_t kMaxProcs = 256;
constexpr uint32_t kMaxHolders = 2048;
constexpr uint32_t kMaxWaiters = 4096;
constexpr uint32_t kNameMax = 64;   // resource name bytes, NUL included
constexpr uint32_t kLabelMax = 128;  // holder/waiter label bytes, NUL included
// The most resources one all-or-nothing request takes (GPUs of one host).
constexpr uint32_t kMaxGang = 16;
constexpr uint32_t kNone = 0xFFFFFFFFu;

enum SlotState : uint32_t {
  kFree = 0,
  kHeld = 1,     // Holder: granted. Proc: registered.
  kWaiting = 2,  // Waiter: queued.
  kGranted = 3,  // Waiter: granted by someone else, not yet picked up by its process.
  kRevoked = 4,  // Holder: taken away (units already freed); kept until its process is told.
};

// Why a hold was revoked (Holder::lost_reason; GrantInfo::lost_reason). Exported to JS by name
// (host.codes.lostReason); 0 there means "a grant, not a loss".
enum LostReason : uint32_t {
  kLostRevoked = 1,
  kLostExpired = 2,
  kLostHolderDead = 3,
  kLostBackendClosed = 4,
};

struct Resource {
  uint32_t state;    // kFree or kHeld (defined)
  uint32_t waiting;  // number of kWaiting waiters (derived; rebuilt by Repair)
  char name[kNameMax];
  uint64_t capacity;
  uint64_t used;   // sum of holder units (derived; rebuilt by Repair)
  uint64_t fence;  // last fencing token handed out; only ever increases
  // Units in use by parties outside the ledger (GPU: VRAM of processes holding no grant, from
  // NVML); grants need used + external + units <= capacity. Set by whoever samples.
  uint64_t external;
  uint32_t closed;  // 1: no new grants (e.g. GPU lost); waiters keep waiting
  uint32_t pad;
};

struct Proc {
  uint32_t state;  // kFree or kHeld
  int32_t pid;
  uint64_t start_time;  // /proc/<pid>/stat field 22 (clock ticks since boot)
  uint32_t generation;  // bumped each time the slot is (re)used
  // Futex word: the granter bumps it and FUTEX_WAKEs it; the process's waiter thread sleeps on it.
  std::atomic<uint32_t> wake;
  uint32_t granted_head;  // singly linked list (Waiter::next_granted) of grants to pick up
  uint32_t revoked_head;  // singly linked list (Holder::next_revoked) of revocations to report
  // Random, per registration; 0: no direct wake. Names the datagram sockets of this process's
  // event loops (native/host/direct_wake.h): a granter sends one datagram to the socket of the
  // waiting thread's loop, so the grant costs one wake-up; when that send fails it wakes the
  // futex word above (the waiter thread) instead.
  uint64_t wake_key;
  // Robust mutex held by the process's waiter thread for as long as it is registered. The
  // kernel marks it owner-died the moment the process dies (whatever its pid becomes later), so
  // trylock is a syscall-free liveness check. When it is not held (the slot was written by an
  // older or odd registrant) liveness falls back to pid + start time. Waiting processes watch it
  // (native/host/holder_watch.cc): they set FUTEX_WAITERS in its word and sleep on it, so the
  // kernel wakes them the moment its owner dies.
  pthread_mutex_t alive;
};

struct Holder {
  uint32_t state;  // kFree, kHeld or kRevoked
  uint32_t resource;
  uint32_t proc;
  uint32_t owner;   // per-process handle id (one HostLedger instance)
  uint32_t thread;  // worker_threads threadId (0 = main thread)
  int32_t priority;
  int32_t pid;
  uint32_t lost_reason;   // kRevoked: why (a LostReason)
  uint32_t next_revoked;  // kRevoked: next in Proc::revoked_head list
  uint32_t pad;
  uint64_t units;
  uint64_t token;  // random, never 0: the ownership capability
  uint64_t fence;
  int64_t since_ms;  // wall clock, for inspect()
  // CLOCK_MONOTONIC ms after which any process of the host revokes the hold (kLostExpired);
  // 0: never. Set at grant time from the request's revoke_after_ms.
  uint64_t revoke_at_ms;
  char label[kLabelMax];  // caller's tag (task, lease id), NUL-terminated, for inspect()
};

struct Waiter {
  uint32_t state;  // kFree, kWaiting or kGranted
  uint32_t resource;
  uint32_t proc;
  uint32_t owner;
  uint32_t thread;
  int32_t priority;
  int32_t pid;
  uint32_t holder;        // kGranted: the holder slot made for it
  uint32_t next_granted;  // kGranted: next in Proc::granted_head list
  // > 1: one member of an all-or-nothing request over `gang` resources (one member each). The
  // members share proc, request, seq, priority and units; all are granted in one step or none
  // is. The lowest slot leads: only it goes on the granted list and is what its process knows.
  uint32_t gang;
  uint64_t units;
  uint64_t seq;      // global arrival order: FIFO within a priority
  uint64_t request;  // per-process request id (JS uses it to find the promise)
  int64_t since_ms;
  uint64_t revoke_after_ms;  // the granted hold's revoke_at_ms is grant time + this (0: never)
  char label[kLabelMax];
};

struct Header {
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_size;  // sizeof(Header): catches ABI drift the version bump forgot
  uint64_t total_size;
  uint32_t max_resources, max_procs, max_holders, max_waiters;
  pthread_mutex_t lock;  // robust, process-shared: guards everything below
  uint64_t next_seq;
  uint64_t ownership_violations;  // host-wide count of refused releases
  uint64_t repairs;               // times the lock was found owner-dead and repaired
  uint64_t reclaimed_procs;       // dead processes reclaimed
  uint64_t grants;                // total grants
  uint32_t holders_hwm;           // slots at or above this index are free (scan bound)
  uint32_t waiters_hwm;
  // Earliest Holder::revoke_at_ms of the held slots, 0 when none has one (derived: it may be
  // early, never late; rebuilt by Repair). Lets every operation skip the expiry scan cheaply.
  uint64_t next_expiry_ms;
  Resource resources[kMaxResources];
  Proc procs[kMaxProcs];
  Holder holders[kMaxHolders];
  Waiter waiters[kMaxWaiters];
};

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word must be a plain u32");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "futex word must be lock-free");

}  // namespace gpu_arbiter::host
