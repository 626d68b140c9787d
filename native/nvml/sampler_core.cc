#include "nvml/sampler_core.h"

#include <chrono>

#include "nvml/device_reader.h"
#include "nvml/nvml_library.h"

namespace gpu_arbiter::nvml {
namespace {

// While NVML is unavailable, retry opening it at most this often (a driver can be installed or
// loaded after the service starts); sampleNow() always retries.
constexpr auto kInitRetry = std::chrono::seconds(10);

double WallMs() {
  using namespace std::chrono;
  return duration<double, std::milli>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

SamplerCore::SamplerCore(std::string libraryPath, unsigned intervalMs)
    : libraryPath_(std::move(libraryPath)), intervalMs_(intervalMs) {
  latest_ = std::make_shared<const Snapshot>();
}

SamplerCore::~SamplerCore() {
  // Only reached once no thread refers to us (the thread holds a shared_ptr while it runs).
  if (thread_.joinable()) thread_.detach();
}

void SamplerCore::Start(const std::shared_ptr<SamplerCore>& self, Notifier notifier) {
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    self->stop_ = false;  // a stopped sampler may be started again
    self->exitedFlag_ = false;
  }
  {
    std::lock_guard<std::mutex> lock(self->notifierMutex_);
    self->notifier_ = std::move(notifier);
  }
  self->thread_ = std::thread([self]() { self->Run(); });
}

void SamplerCore::RequestStop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = true;
  wake_.notify_all();
}

bool SamplerCore::JoinOrDetach(unsigned waitMs) {
  if (!thread_.joinable()) return true;
  std::unique_lock<std::mutex> lock(mutex_);
  bool done = exited_.wait_for(lock, std::chrono::milliseconds(waitMs), [this] { return exitedFlag_; });
  lock.unlock();
  if (done) {
    thread_.join();
  } else {
    thread_.detach();  // still inside NVML; it owns a reference to us and exits on its own
  }
  return done;
}

void SamplerCore::DetachNotifier() {
  std::lock_guard<std::mutex> lock(notifierMutex_);
  notifier_ = nullptr;
}

uint64_t SamplerCore::RequestSample() {
  std::lock_guard<std::mutex> lock(mutex_);
  uint64_t ticket = ++requestedTicket_;
  wake_.notify_all();
  return ticket;
}

void SamplerCore::SetIntervalMs(unsigned ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  intervalMs_ = ms;
  wake_.notify_all();
}

std::shared_ptr<const Snapshot> SamplerCore::Latest() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return latest_;
}

void SamplerCore::Notify(const Notice& n) {
  std::lock_guard<std::mutex> lock(notifierMutex_);
  if (notifier_) notifier_(n);
}

void SamplerCore::Run() {
  std::unique_ptr<Library> lib;
  FallbackState fallback;
  OpenFailure lastFailure;
  auto lastOpenAttempt = std::chrono::steady_clock::time_point::min();
  uint64_t served = 0;

  for (;;) {
    uint64_t ticket;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stop_) break;
      ticket = requestedTicket_;
    }
    auto now = std::chrono::steady_clock::now();
    if (!lib && (ticket > served || now - lastOpenAttempt >= kInitRetry)) {
      lastOpenAttempt = now;
      lastFailure = OpenFailure{};
      lib = Library::Open(libraryPath_, &lastFailure);
    }

    auto snap = std::make_shared<Snapshot>();
    auto t0 = std::chrono::steady_clock::now();
    if (lib) {
      snap->available = true;
      SampleAll(*lib, &fallback, snap.get());
    } else {
      snap->reason = lastFailure.reason;
      snap->initError = lastFailure.initError;
      snap->libraryPath = lastFailure.libraryPath;
      snap->api = lastFailure.api;
    }
    snap->durationUs =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
    snap->takenAtMs = WallMs();

    uint64_t seq;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seq = seq_.load(std::memory_order_relaxed) + 1;
      snap->seq = seq;
      latest_ = snap;
      seq_.store(seq, std::memory_order_release);
    }
    served = ticket;
    Notify(Notice{seq, ticket, false});

    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(intervalMs_),
                   [this, ticket] { return stop_ || requestedTicket_ > ticket; });
  }

  lib.reset();  // nvmlShutdown + dlclose on this thread, which made the init
  Notify(Notice{0, 0, true});
  std::lock_guard<std::mutex> lock(mutex_);
  exitedFlag_ = true;
  exited_.notify_all();
}

}  // namespace gpu_arbiter::nvml
