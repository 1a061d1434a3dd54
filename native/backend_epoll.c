/* epoll backend. The kernel keeps the interest set, so add/modify/remove are
 * one epoll_ctl each and a wait costs O(ready), not O(registered). */
#include <errno.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <unistd.h>

#include "wasmloop.h"

typedef struct {
  wl_backend base;
  int epfd;
} epoll_backend;

static int epoll_create_backend(wl_backend **out) {
  epoll_backend *b = malloc(sizeof *b);
  if (b == NULL) return -ENOMEM;
  b->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (b->epfd < 0) {
    int err = errno;
    free(b);
    return -err;
  }
  b->base.ops = &wl_epoll_ops;
  *out = &b->base;
  return 0;
}

static int epoll_control(wl_backend *base, int op, int fd, uint32_t events, uint64_t data) {
  epoll_backend *b = (epoll_backend *)base;
  struct epoll_event ev = {.events = events, .data = {.u64 = data}};
  return epoll_ctl(b->epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

static int epoll_add(wl_backend *b, int fd, uint32_t events, uint64_t data) {
  return epoll_control(b, EPOLL_CTL_ADD, fd, events, data);
}

static int epoll_modify(wl_backend *b, int fd, uint32_t events, uint64_t data) {
  return epoll_control(b, EPOLL_CTL_MOD, fd, events, data);
}

static int epoll_remove(wl_backend *b, int fd) {
  /* Kernels before 2.6.9 wanted a non-NULL event even for DEL. */
  return epoll_control(b, EPOLL_CTL_DEL, fd, 0, 0);
}

/* epoll_pwait2 (Linux 5.11) takes a timespec, so a wait ends at a timer's
 * deadline instead of up to a millisecond after it. Where the kernel lacks
 * it, epoll_wait with the timeout rounded up to whole milliseconds. */
static int pwait2_missing = 0;

static int wait_once(epoll_backend *b, struct epoll_event *out, int max_events, int64_t timeout_ns) {
#ifdef SYS_epoll_pwait2
  if (!pwait2_missing) {
    struct timespec ts;
    int n = (int)syscall(SYS_epoll_pwait2, b->epfd, out, max_events, wl_timespec(timeout_ns, &ts), NULL, 0);
    if (n >= 0 || errno != ENOSYS) return n;
    pwait2_missing = 1;
  }
#endif
  return epoll_wait(b->epfd, out, max_events, wl_timeout_ms(timeout_ns));
}

static int epoll_wait_events(wl_backend *base, struct epoll_event *out, int max_events,
                             int64_t timeout_ns) {
  epoll_backend *b = (epoll_backend *)base;
  int64_t deadline = wl_deadline_ns(timeout_ns);
  for (;;) {
    int n = wait_once(b, out, max_events, timeout_ns);
    if (n >= 0) return n;
    if (errno != EINTR) return -errno;
    timeout_ns = wl_remaining_ns(deadline);
  }
}

static int epoll_free(wl_backend *base) {
  epoll_backend *b = (epoll_backend *)base;
  /* close() is not retried on EINTR: on Linux the fd is gone either way. */
  int rc = close(b->epfd) == 0 ? 0 : -errno;
  free(b);
  return rc;
}

static int epoll_fd(wl_backend *base) { return ((epoll_backend *)base)->epfd; }

const wl_backend_ops wl_epoll_ops = {
    .name = "epoll",
    .create = epoll_create_backend,
    .add = epoll_add,
    .modify = epoll_modify,
    .remove = epoll_remove,
    .wait = epoll_wait_events,
    .free = epoll_free,
    .fd = epoll_fd,
};
