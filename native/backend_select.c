/* select backend, for comparison and for kernels without epoll. Master fd_sets
 * hold the interest set and are copied for every wait (the kernel overwrites
 * its arguments). A wait costs O(highest fd) in the kernel and in the scan
 * below, and no fd may reach FD_SETSIZE (1024): an fd_set is a fixed bitmap,
 * and FD_SET past its end writes over whatever follows. Add refuses such fds
 * with -ERANGE, and every other call checks the bound before touching a set.
 *
 * Hang-ups and errors have no set of their own (exceptfds means out-of-band
 * data): a peer's close shows as readable, an error as readable and writable,
 * and the reader finds out which. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/select.h>

#include "wasmloop.h"

typedef struct {
  wl_backend base;
  fd_set readers;
  fd_set writers;
  fd_set registered;
  int max_fd; /* highest registered fd, -1 when none */
  /* Where the next scan starts: just after the last fd reported, so when more
   * fds are ready than one wait may report, the others go first next time. */
  int cursor;
  uint64_t data[FD_SETSIZE];
  wl_file_id files[FD_SETSIZE];
  fd_set oneshot; /* EPOLLONESHOT: leave the sets once reported */
} select_backend;

static int select_create_backend(wl_backend **out) {
  select_backend *b = malloc(sizeof *b);
  if (b == NULL) return -ENOMEM;
  FD_ZERO(&b->readers);
  FD_ZERO(&b->writers);
  FD_ZERO(&b->registered);
  FD_ZERO(&b->oneshot);
  b->max_fd = -1;
  b->cursor = 0;
  b->base.ops = &wl_select_ops;
  *out = &b->base;
  return 0;
}

static int is_registered(select_backend *b, int fd) {
  return fd >= 0 && fd < FD_SETSIZE && FD_ISSET(fd, &b->registered);
}

static void set_interest(select_backend *b, int fd, uint32_t events, uint64_t data) {
  if (events & EPOLLIN)
    FD_SET(fd, &b->readers);
  else
    FD_CLR(fd, &b->readers);
  if (events & EPOLLOUT)
    FD_SET(fd, &b->writers);
  else
    FD_CLR(fd, &b->writers);
  if (events & EPOLLONESHOT)
    FD_SET(fd, &b->oneshot);
  else
    FD_CLR(fd, &b->oneshot);
  b->data[fd] = data;
}

static void forget(select_backend *b, int fd) {
  FD_CLR(fd, &b->readers);
  FD_CLR(fd, &b->writers);
  FD_CLR(fd, &b->registered);
  /* O(max_fd) only when the highest fd goes, as in Redis's ae_select. */
  while (b->max_fd >= 0 && !FD_ISSET(b->max_fd, &b->registered)) b->max_fd--;
}

static int select_add(wl_backend *base, int fd, uint32_t events, uint64_t data) {
  select_backend *b = (select_backend *)base;
  wl_file_id file;
  int rc = wl_check_level_triggered(events);
  if (rc == 0) rc = wl_check_pollable(fd, &file);
  if (rc < 0) return rc;
  if (fd >= FD_SETSIZE) return -ERANGE;
  if (FD_ISSET(fd, &b->registered)) return -EEXIST;
  FD_SET(fd, &b->registered);
  set_interest(b, fd, events, data);
  b->files[fd] = file;
  if (fd > b->max_fd) b->max_fd = fd;
  return 0;
}

static int select_modify(wl_backend *base, int fd, uint32_t events, uint64_t data) {
  select_backend *b = (select_backend *)base;
  int rc = wl_check_level_triggered(events);
  if (rc < 0) return rc;
  if (!is_registered(b, fd)) return -ENOENT;
  set_interest(b, fd, events, data);
  return 0;
}

static int select_remove(wl_backend *base, int fd) {
  select_backend *b = (select_backend *)base;
  if (!is_registered(b, fd)) return -ENOENT;
  /* The registration goes either way; the answer tells the caller whether fd
   * is still the file it registered, which it must know before closing it. */
  int rc = wl_check_same_file(fd, &b->files[fd]);
  forget(b, fd);
  return rc;
}

/* select() failed with EBADF: one of the fds was closed behind our back.
 * epoll would have forgotten it, so forget it too. Returns how many went. */
static int drop_closed(select_backend *b) {
  int dropped = 0;
  for (int fd = b->max_fd; fd >= 0; fd--)
    if (FD_ISSET(fd, &b->registered) && fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      forget(b, fd);
      dropped++;
    }
  return dropped;
}

static int collect(select_backend *b, const fd_set *readable, const fd_set *writable,
                   struct epoll_event *out, int max_events, int ready) {
  int span = b->max_fd + 1, seen = 0, written = 0;
  int fd = b->cursor < span ? b->cursor : 0;
  /* `ready` counts set bits, so an fd both readable and writable counts twice. */
  for (int scanned = 0; scanned < span && seen < ready && written < max_events; scanned++) {
    uint32_t events = 0;
    if (FD_ISSET(fd, readable)) {
      events |= EPOLLIN;
      seen++;
    }
    if (FD_ISSET(fd, writable)) {
      events |= EPOLLOUT;
      seen++;
    }
    if (events != 0) {
      out[written].events = events;
      out[written].data.u64 = b->data[fd];
      written++;
      b->cursor = fd + 1;
      if (FD_ISSET(fd, &b->oneshot)) {
        FD_CLR(fd, &b->readers);
        FD_CLR(fd, &b->writers);
      }
    }
    if (++fd == span) fd = 0;
  }
  return written;
}

static int select_wait_events(wl_backend *base, struct epoll_event *out, int max_events,
                              int64_t timeout_ns) {
  select_backend *b = (select_backend *)base;
  int64_t deadline = wl_deadline_ns(timeout_ns);
  for (;;) {
    fd_set readable = b->readers, writable = b->writers;
    struct timespec ts;
    /* pselect: select with a timespec, for sub-millisecond deadlines. */
    int ready = pselect(b->max_fd + 1, &readable, &writable, NULL, wl_timespec(timeout_ns, &ts), NULL);
    if (ready >= 0) return collect(b, &readable, &writable, out, max_events, ready);
    /* EBADF with nothing to drop is not ours to fix: report it, never spin. */
    if (errno == EBADF) {
      if (drop_closed(b) == 0) return -EBADF;
    } else if (errno != EINTR) {
      return -errno;
    }
    timeout_ns = wl_remaining_ns(deadline);
  }
}

static int select_free(wl_backend *base) {
  free(base);
  return 0;
}

static int select_fd(wl_backend *base) {
  (void)base;
  return -ENOTSUP;
}

const wl_backend_ops wl_select_ops = {
    .name = "select",
    .create = select_create_backend,
    .add = select_add,
    .modify = select_modify,
    .remove = select_remove,
    .wait = select_wait_events,
    .free = select_free,
    .fd = select_fd,
};
