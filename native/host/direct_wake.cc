#include "host/direct_wake.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "host/uv_min.h"

namespace gpu_arbiter::host {

socklen_t DirectWakeAddress(uint64_t key, uint32_t thread, sockaddr_un* out) {
  memset(out, 0, sizeof *out);
  out->sun_family = AF_UNIX;
  // Abstract namespace: a leading NUL, no file, gone when the socket closes (even on SIGKILL).
  int n = snprintf(out->sun_path + 1, sizeof out->sun_path - 1, "gpu-arbiter-wake-%016llx-%u",
                   static_cast<unsigned long long>(key), thread);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

DirectWakeSender::DirectWakeSender() { fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0); }

DirectWakeSender::~DirectWakeSender() {
  if (fd_ >= 0) close(fd_);
}

bool DirectWakeSender::Send(uint64_t key, uint32_t thread) const {
  if (fd_ < 0 || key == 0) return false;
  sockaddr_un addr;
  socklen_t len = DirectWakeAddress(key, thread, &addr);
  const char one = 1;
  ssize_t n;
  do {
    n = sendto(fd_, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  } while (n < 0 && errno == EINTR);
  // EAGAIN: the receiver's queue is full of wake-ups it has not read yet, so it will look anyway.
  return n == 1 || (n < 0 && errno == EAGAIN);
}

LoopWaker* LoopWaker::Create(uv_loop_s* loop, uint64_t key, uint32_t thread, std::function<void()> on_wake) {
  if (loop == nullptr || key == 0) return nullptr;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return nullptr;
  sockaddr_un addr;
  socklen_t len = DirectWakeAddress(key, thread, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    close(fd);
    return nullptr;
  }
  auto* poll = static_cast<uv_poll_s*>(calloc(1, uv_handle_size(uv_min::kPollHandle)));
  if (poll == nullptr || uv_poll_init(loop, poll, fd) != 0) {
    free(poll);
    close(fd);
    return nullptr;
  }
  auto* w = new LoopWaker();
  w->fd_ = fd;
  w->poll_ = poll;
  w->on_wake_ = std::move(on_wake);
  uv_min::Data(poll) = w;
  uv_unref(reinterpret_cast<uv_handle_s*>(poll));
  if (uv_poll_start(poll, uv_min::kReadable, &LoopWaker::OnPoll) != 0) {
    delete w;  // closes the handle and the socket
    return nullptr;
  }
  return w;
}

LoopWaker::~LoopWaker() {
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    uv_min::Data(poll_) = nullptr;
    // The handle's memory goes once libuv has closed it (at the latest as the loop closes).
    uv_close(reinterpret_cast<uv_handle_s*>(poll_), [](uv_handle_s* h) { free(h); });
  }
  if (fd_ >= 0) close(fd_);  // not polled any more (uv_poll_stop above)
}

// JS thread (a libuv callback of the environment's loop).
void LoopWaker::OnPoll(uv_poll_s* handle, int status, int events) {
  auto* w = static_cast<LoopWaker*>(uv_min::Data(handle));
  if (w == nullptr) return;
  // Every queued wake-up says the same thing: drain them (up to kBatch per syscall, so the
  // usual single one costs one call), then look once.
  constexpr unsigned kBatch = 16;
  char bufs[kBatch][8];
  iovec iov[kBatch];
  mmsghdr msgs[kBatch];
  memset(msgs, 0, sizeof msgs);
  for (unsigned i = 0; i < kBatch; i++) {
    iov[i] = iovec{bufs[i], sizeof bufs[i]};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  while (recvmmsg(w->fd_, msgs, kBatch, MSG_DONTWAIT, nullptr) == static_cast<int>(kBatch)) {
  }
  // A copy: the callback may close the last handle of this environment, which deletes `w`.
  std::function<void()> on_wake = w->on_wake_;
  on_wake();
}

}  // namespace gpu_arbiter::host
