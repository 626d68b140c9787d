#pragma once
// What the ledger_*.cc files of ProcessLedger share (native/host/ledger.h is the class): small
// helpers of no wider use.
#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace gpu_arbiter::host {

// Wall clock in ms (holder/waiter `since`, shown by inspect()).
inline int64_t WallMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// CLOCK_MONOTONIC in ms: one clock for every process of the host (Holder::revoke_at_ms).
inline uint64_t MonoMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

// A NUL-terminated name or label of a fixed-size field of the shared ledger, read without ever
// running past the field (a corrupt ledger may have no NUL in it).
template <size_t N>
inline std::string FieldString(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

// "<what> <path>: <strerror(errno)>".
inline std::string Errno(const char* what, const std::string& path) {
  return std::string(what) + " " + path + ": " + strerror(errno);
}

// This process's wake-up counters (WakeStats in ledger.h), over all its ledgers.
struct WakeCounterSet {
  std::atomic<uint64_t> loop_deliveries{0}, thread_deliveries{0}, direct_sends{0}, futex_wakes{0},
      watch_reclaims{0}, poll_sweeps{0};
};
inline WakeCounterSet& WakeCounters() {
  static WakeCounterSet* c = new WakeCounterSet();  // never freed: outlives every thread at exit
  return *c;
}

}  // namespace gpu_arbiter::host
