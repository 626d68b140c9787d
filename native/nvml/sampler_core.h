#pragma once
// The sampler thread: owns the NVML library, samples every device each interval (or on
// request), and publishes immutable snapshots. Knows nothing of JS: it reports through a
// notifier callback that the JS side installs and can detach at any time.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "nvml/sample.h"

namespace gpu_arbiter::nvml {

struct Notice {
  uint64_t seq = 0;            // snapshot just published (0 with `stopped`)
  uint64_t servedTicket = 0;   // every sampleNow ticket <= this is answered by `seq`
  bool stopped = false;        // the thread has left its loop and released NVML
};

class SamplerCore {
 public:
  using Notifier = std::function<void(const Notice&)>;

  SamplerCore(std::string libraryPath, unsigned intervalMs);
  ~SamplerCore();
  SamplerCore(const SamplerCore&) = delete;
  SamplerCore& operator=(const SamplerCore&) = delete;

  // JS thread. Starts the thread; `self` must own this object (the thread keeps it alive, so a
  // thread stuck in a hung NVML call never touches freed memory).
  static void Start(const std::shared_ptr<SamplerCore>& self, Notifier notifier);
  // Any thread. Asks the loop to exit after the current pass.
  void RequestStop();
  // JS thread. Joins the thread if it has finished, or detaches it after `waitMs` (env teardown
  // must not hang behind a hung NVML call). Returns true when joined.
  bool JoinOrDetach(unsigned waitMs);
  // Any thread. Drops the notifier; once this returns the thread will not call it again.
  void DetachNotifier();
  // Any thread. Asks for a pass that starts after this call; returns its ticket.
  uint64_t RequestSample();
  void SetIntervalMs(unsigned ms);
  std::shared_ptr<const Snapshot> Latest() const;
  uint64_t Seq() const { return seq_.load(std::memory_order_acquire); }

 private:
  void Run();  // sampler thread
  void Notify(const Notice& n);

  const std::string libraryPath_;
  mutable std::mutex mutex_;  // guards everything below except seq_ and the notifier
  std::condition_variable wake_;
  std::condition_variable exited_;
  unsigned intervalMs_;
  bool stop_ = false;
  bool exitedFlag_ = false;
  uint64_t requestedTicket_ = 0;
  std::shared_ptr<const Snapshot> latest_;
  std::atomic<uint64_t> seq_{0};
  std::thread thread_;

  std::mutex notifierMutex_;  // held while calling the notifier, so detaching is a barrier
  Notifier notifier_;
};

}  // namespace gpu_arbiter::nvml
