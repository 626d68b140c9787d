#include "host/liveness.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gpu_arbiter::host {

uint64_t ProcessStartTime(pid_t pid) {
  if (pid <= 0) return 0;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // Field 2 (comm) is in parentheses and may itself contain spaces or ')': skip to the LAST ')'.
  char* p = strrchr(buf, ')');
  if (p == nullptr) return 0;
  p++;
  // After ')' come fields 3.. separated by single spaces; field 22 is the 20th of those.
  for (int field = 3; field <= 22; field++) {
    while (*p == ' ') p++;
    if (*p == '\0') return 0;
    if (field == 22) return strtoull(p, nullptr, 10);
    while (*p != ' ' && *p != '\0') p++;
  }
  return 0;
}

bool ProcessAlive(pid_t pid, uint64_t start_time) {
  uint64_t now = ProcessStartTime(pid);
  return now != 0 && now == start_time;
}

}  // namespace gpu_arbiter::host
