// ProcessLedger: the direct wake of this process's event loops (direct_wake.h) and the test
// hooks that switch the new wake paths off, so tests can tell each path works on its own.
#include <sys/random.h>

#include <cstdlib>
#include <cstring>

#include "host/holder_watch.h"
#include "host/ledger.h"
#include "host/ledger_internal.h"

namespace gpu_arbiter::host {

namespace {
bool HookOn(const char* name) {
  const char* hooks = getenv("GPU_ARBITER_TEST_HOOKS");
  const char* v = getenv(name);
  return hooks != nullptr && strcmp(hooks, "1") == 0 && v != nullptr && strcmp(v, "1") == 0;
}
}  // namespace

void ProcessLedger::ReadTestHooks() {
  no_poll_ = HookOn("GPU_ARBITER_TEST_NO_POLL");
  no_direct_ = HookOn("GPU_ARBITER_TEST_NO_DIRECT_WAKE");
  no_watch_ = HookOn("GPU_ARBITER_TEST_NO_WATCH");
  if (HookOn("GPU_ARBITER_TEST_NO_WAITV")) DisableFutexWaitv();  // for the whole process
  if (no_direct_) return;
  uint64_t key = 0;
  if (getrandom(&key, sizeof key, 0) != sizeof key) key = rng_ ^ static_cast<uint64_t>(MonoMs());
  wake_key_ = key == 0 ? 1 : key;
}

bool ProcessLedger::AttachLoop(uv_loop_s* loop, uint32_t thread) {
  if (wake_key_ == 0) return false;
  std::lock_guard<std::mutex> g(loops_mu_);
  auto it = loops_.find(thread);
  if (it != loops_.end()) {
    // Another environment claiming the same threadId gets no socket (its grants come through
    // the waiter thread): a loop only ever runs callbacks of its own environment.
    if (it->second.loop != loop) return false;
    it->second.refs++;
    return true;
  }
  LoopWaker* waker = LoopWaker::Create(loop, wake_key_, thread, [this, thread, loop] { DeliverToLoop(thread, loop); });
  if (waker == nullptr) return false;
  loops_[thread] = Loop{waker, loop, 1};
  return true;
}

void ProcessLedger::DetachLoop(uint32_t thread) {
  LoopWaker* gone = nullptr;
  {
    std::lock_guard<std::mutex> g(loops_mu_);
    auto it = loops_.find(thread);
    if (it == loops_.end() || --it->second.refs > 0) return;
    gone = it->second.waker;
    loops_.erase(it);
  }
  delete gone;  // stops the poll; a grant sent after this wakes the waiter thread instead
}

std::vector<uint32_t> ProcessLedger::LoopThreads() {
  std::lock_guard<std::mutex> g(loops_mu_);
  std::vector<uint32_t> out;
  out.reserve(loops_.size());
  for (const auto& [thread, loop] : loops_) out.push_back(thread);
  return out;
}

WakeStats ProcessLedger::Stats() {
  const WakeCounterSet& c = WakeCounters();
  return WakeStats{c.loop_deliveries.load(), c.thread_deliveries.load(), c.direct_sends.load(),
                   c.futex_wakes.load(),     c.watch_reclaims.load(),    c.poll_sweeps.load()};
}

}  // namespace gpu_arbiter::host
