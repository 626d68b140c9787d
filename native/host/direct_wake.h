#pragma once
// Direct wake (issue 17): a granter wakes the waiting JS thread's event loop itself, with one
// datagram, instead of waking this process's waiter thread, which would then wake the loop
// through a ThreadSafeFunction (two wake-ups per handoff).
//
// Each JS environment (main thread, worker_thread) that has a handle on a ledger owns one unix
// datagram socket in the abstract namespace, named from its process's Proc::wake_key and its
// threadId (DirectWakeAddress), and watches it with a uv_poll_t on its own loop. A granter, after
// writing the grant into the ledger and unlocking it, sends one byte there; the loop drains the
// socket and picks up the grants of its thread (ProcessLedger::TakeGrants). The datagram carries
// nothing but "look": anyone could send one, and all it costs is one look at the ledger.
//
// Fallback: where the socket cannot be made (an odd libc, a sandbox without AF_UNIX) the key is
// still there but nobody listens: the send fails (ECONNREFUSED) and the granter wakes the waiter
// thread's futex as before. A granter in another network namespace than the waiter (containers
// sharing /dev/shm) cannot reach the socket either, and falls back the same way.
#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <functional>

struct uv_loop_s;
struct uv_poll_s;

namespace gpu_arbiter::host {

// Fills *out with the address of thread `thread`'s socket of the process with key `key`; returns
// its length.
socklen_t DirectWakeAddress(uint64_t key, uint32_t thread, sockaddr_un* out);

// One per ProcessLedger: an unbound datagram socket to send the wake-ups from. Any thread.
class DirectWakeSender {
 public:
  DirectWakeSender();
  ~DirectWakeSender();
  DirectWakeSender(const DirectWakeSender&) = delete;
  DirectWakeSender& operator=(const DirectWakeSender&) = delete;
  // true: that loop will look (the datagram is queued, or its queue is full of earlier ones).
  // false: nobody listens there: wake the waiter thread instead.
  bool Send(uint64_t key, uint32_t thread) const;

 private:
  int fd_ = -1;
};

// One per (ProcessLedger, JS environment): the bound socket and the uv_poll_t that watches it on
// the environment's loop. Create and destroy on that environment's JS thread; `on_wake` runs
// there, after the socket was drained. The poll handle never keeps the loop alive (the handle's
// ThreadSafeFunction does that while it has waiters, src/backends/host/ledger.ts).
class LoopWaker {
 public:
  // nullptr when the socket or the poll cannot be set up (the caller falls back).
  static LoopWaker* Create(uv_loop_s* loop, uint64_t key, uint32_t thread, std::function<void()> on_wake);
  ~LoopWaker();
  LoopWaker(const LoopWaker&) = delete;
  LoopWaker& operator=(const LoopWaker&) = delete;

 private:
  LoopWaker() = default;
  static void OnPoll(uv_poll_s* handle, int status, int events);
  int fd_ = -1;
  uv_poll_s* poll_ = nullptr;
  std::function<void()> on_wake_;
};

}  // namespace gpu_arbiter::host
