/* What every backend shares: lookup by name, the EINTR deadline arithmetic,
 * and the add-time checks of the backends that keep their own interest set. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "wasmloop.h"

static const wl_backend_ops *const backends[] = {&wl_epoll_ops, &wl_poll_ops, &wl_select_ops};

const wl_backend_ops *wl_backend_find(const char *name) {
  for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
    if (strcmp(backends[i]->name, name) == 0) return backends[i];
  return NULL;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t wl_deadline_ns(int64_t timeout_ns) {
  return timeout_ns < 0 ? -1 : now_ns() + timeout_ns;
}

int64_t wl_remaining_ns(int64_t deadline_ns) {
  if (deadline_ns < 0) return -1;
  int64_t left = deadline_ns - now_ns();
  return left > 0 ? left : 0;
}

int wl_timeout_ms(int64_t timeout_ns) {
  if (timeout_ns < 0) return -1;
  /* Round up: waking a fraction of a millisecond early would make the caller
   * wait again for nothing, or fire a timer before its deadline. */
  int64_t ms = (timeout_ns + 999999) / 1000000;
  return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

struct timespec *wl_timespec(int64_t timeout_ns, struct timespec *ts) {
  if (timeout_ns < 0) return NULL;
  ts->tv_sec = timeout_ns / 1000000000;
  ts->tv_nsec = timeout_ns % 1000000000;
  return ts;
}

int wl_check_level_triggered(uint32_t events) {
  return events & (EPOLLET | EPOLLEXCLUSIVE) ? -EINVAL : 0;
}

int wl_check_pollable(int fd, wl_file_id *file) {
  /* fstat alone would do, but fcntl is what tells "closed" from any other
   * failure without guessing: EBADF is the answer epoll_ctl gives.
   * The file type stands in for epoll's real test (does the file implement
   * poll?), which user space cannot see: the few regular files that do
   * (/proc/self/mounts, some sysfs attributes) are refused here, not there. */
  if (fd < 0 || fcntl(fd, F_GETFD) < 0) return -EBADF;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return -EPERM;
  file->dev = st.st_dev;
  file->ino = st.st_ino;
  return 0;
}

int wl_check_same_file(int fd, const wl_file_id *file) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -EBADF;
  return st.st_dev == file->dev && st.st_ino == file->ino ? 0 : -ENOENT;
}
