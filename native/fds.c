/* Pollable fds that are not sockets: pipes, eventfds, timerfds. Each call
 * returns a result >= 0 or -errno. */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "wasmloop.h"

int wl_pipe(int fds[2]) { return pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0 ? 0 : -errno; }

int wl_eventfd(unsigned initial) {
  int fd = eventfd(initial, EFD_NONBLOCK | EFD_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int wl_eventfd_write(int fd, uint64_t n) {
  /* An 8-byte write to an eventfd is all or nothing: no partial result. */
  return write(fd, &n, sizeof n) == (ssize_t)sizeof n ? 0 : -errno;
}

int wl_read_counter(int fd, uint64_t *value) {
  ssize_t n = read(fd, value, sizeof *value);
  if (n == (ssize_t)sizeof *value) return 0;
  /* Anything but 8 bytes means fd is not a counter (a pipe, say). */
  return n < 0 ? -errno : -EINVAL;
}

static struct timespec from_ms(uint32_t ms) {
  return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
}

int wl_timerfd(uint32_t ms, uint32_t interval_ms) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return -errno;
  struct itimerspec spec = {.it_value = from_ms(ms), .it_interval = from_ms(interval_ms)};
  /* A zero it_value disarms a timerfd; "after 0 ms" means at once, so the
   * shortest delay the kernel takes stands in for it. */
  if (ms == 0) spec.it_value.tv_nsec = 1;
  if (timerfd_settime(fd, 0, &spec, NULL) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

int wl_dup_fd(int fd, int min_fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
  return copy < 0 ? -errno : copy;
}

int64_t wl_fd_limit(void) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -errno;
  /* RLIM_INFINITY is far above any fd the kernel hands out (nr_open caps it). */
  return limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > INT32_MAX ? INT32_MAX : (int64_t)limit.rlim_cur;
}
