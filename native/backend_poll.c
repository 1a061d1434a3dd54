/* poll backend. The interest set lives here and goes to the kernel whole on
 * every wait, so a wait costs O(registered) in the kernel and in the scan
 * below, while add/modify/remove cost no syscall beyond their checks.
 *
 *   fds[]      pollfd  pollfd  pollfd  ...        compact: [0, count)
 *   entries[]  data    data    data    ...        same index as fds[]
 *   index_of[fd] -> index in fds[], -1 when fd is not registered
 *
 * Removing swaps the last entry into the hole, so add and remove are O(1)
 * and poll() never sees a gap. index_of[] grows to the highest fd added. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "wasmloop.h"

typedef struct {
  uint64_t data;   /* gen<<32 | fd, written back in each record */
  wl_file_id file; /* the file registered, to answer remove as epoll would */
  int fd;          /* kept here too: a disarmed entry's pollfd.fd is negative */
  int oneshot;     /* EPOLLONESHOT: disarm once reported */
} poll_entry;

typedef struct {
  wl_backend base;
  struct pollfd *fds;
  poll_entry *entries;
  int count;
  int capacity;
  int *index_of;
  int index_capacity;
  /* Where the next scan starts: just after the last fd reported, so when more
   * fds are ready than one wait may report, the others go first next time. */
  int cursor;
} poll_backend;

static int poll_create_backend(wl_backend **out) {
  poll_backend *b = calloc(1, sizeof *b);
  if (b == NULL) return -ENOMEM;
  b->base.ops = &wl_poll_ops;
  *out = &b->base;
  return 0;
}

static short to_poll(uint32_t events) {
  return (short)((events & EPOLLIN ? POLLIN : 0) | (events & EPOLLPRI ? POLLPRI : 0) |
                 (events & EPOLLOUT ? POLLOUT : 0) | (events & EPOLLRDHUP ? POLLRDHUP : 0));
}

static uint32_t from_poll(short revents) {
  return (revents & (POLLIN | POLLPRI) ? EPOLLIN : 0) | (revents & POLLOUT ? EPOLLOUT : 0) |
         (revents & POLLERR ? EPOLLERR : 0) | (revents & POLLHUP ? EPOLLHUP : 0) |
         (revents & POLLRDHUP ? EPOLLRDHUP : 0);
}

static int registered_index(const poll_backend *b, int fd) {
  return fd >= 0 && fd < b->index_capacity ? b->index_of[fd] : -1;
}

/* Makes room for one more entry and for index_of[fd]; doubling, so growth is
 * amortised O(1) per add. */
static int reserve(poll_backend *b, int fd) {
  if (fd >= b->index_capacity) {
    int capacity = b->index_capacity ? b->index_capacity : 64;
    while (capacity <= fd) capacity *= 2;
    int *grown = realloc(b->index_of, (size_t)capacity * sizeof *grown);
    if (grown == NULL) return -ENOMEM;
    memset(grown + b->index_capacity, 0xff, (size_t)(capacity - b->index_capacity) * sizeof *grown);
    b->index_of = grown;
    b->index_capacity = capacity;
  }
  if (b->count == b->capacity) {
    int capacity = b->capacity ? b->capacity * 2 : 64;
    struct pollfd *fds = realloc(b->fds, (size_t)capacity * sizeof *fds);
    if (fds == NULL) return -ENOMEM;
    b->fds = fds;
    poll_entry *entries = realloc(b->entries, (size_t)capacity * sizeof *entries);
    if (entries == NULL) return -ENOMEM;
    b->entries = entries;
    b->capacity = capacity;
  }
  return 0;
}

static void drop(poll_backend *b, int index) {
  int last = b->count - 1;
  b->index_of[b->entries[index].fd] = -1;
  if (index != last) {
    b->fds[index] = b->fds[last];
    b->entries[index] = b->entries[last];
    b->index_of[b->entries[index].fd] = index;
  }
  b->count = last;
}

static int poll_add(wl_backend *base, int fd, uint32_t events, uint64_t data) {
  poll_backend *b = (poll_backend *)base;
  wl_file_id file;
  int rc = wl_check_level_triggered(events);
  if (rc == 0) rc = wl_check_pollable(fd, &file);
  if (rc < 0) return rc;
  if (registered_index(b, fd) >= 0) return -EEXIST;
  if ((rc = reserve(b, fd)) < 0) return rc;
  int index = b->count++;
  b->fds[index] = (struct pollfd){.fd = fd, .events = to_poll(events)};
  b->entries[index] = (poll_entry){.data = data, .file = file, .fd = fd, .oneshot = (events & EPOLLONESHOT) != 0};
  b->index_of[fd] = index;
  return 0;
}

static int poll_modify(wl_backend *base, int fd, uint32_t events, uint64_t data) {
  poll_backend *b = (poll_backend *)base;
  int rc = wl_check_level_triggered(events);
  if (rc < 0) return rc;
  int index = registered_index(b, fd);
  if (index < 0) return -ENOENT;
  /* No check that fd is still open: modify is on the hot path (write
   * interest on, off), and a closed fd is dropped at the next wait anyway. */
  b->fds[index].fd = fd; /* re-arms a disarmed one-shot entry */
  b->fds[index].events = to_poll(events);
  b->entries[index].data = data;
  b->entries[index].oneshot = (events & EPOLLONESHOT) != 0;
  return 0;
}

static int poll_remove(wl_backend *base, int fd) {
  poll_backend *b = (poll_backend *)base;
  int index = registered_index(b, fd);
  if (index < 0) return -ENOENT;
  /* The registration goes either way; the answer tells the caller whether fd
   * is still the file it registered, which it must know before closing it. */
  int rc = wl_check_same_file(fd, &b->entries[index].file);
  drop(b, index);
  return rc;
}

/* Writes records for the fds poll() marked, starting at the cursor, until
 * `ready` marked entries are seen or out is full; drops fds closed behind our
 * back (POLLNVAL: epoll would have forgotten them). *dropped counts those. */
static int collect(poll_backend *b, struct epoll_event *out, int max_events, int ready,
                   int *dropped) {
  int count = b->count, seen = 0, written = 0, invalid = 0;
  int i = b->cursor < count ? b->cursor : 0;
  for (int scanned = 0; scanned < count && seen < ready && written < max_events; scanned++) {
    short revents = b->fds[i].revents;
    if (revents != 0) {
      seen++;
      if (revents & POLLNVAL) {
        invalid++;
      } else {
        out[written].events = from_poll(revents);
        out[written].data.u64 = b->entries[i].data;
        written++;
        b->cursor = i + 1;
        /* As EPOLLONESHOT: silent until modified. A negative fd is one poll
         * skips entirely, hang-ups included. */
        if (b->entries[i].oneshot) b->fds[i].fd = ~b->entries[i].fd;
      }
    }
    if (++i == count) i = 0;
  }
  /* Downwards, so the entry swapped into a hole has already been looked at. */
  *dropped = 0;
  if (invalid > 0) {
    for (int j = b->count - 1; j >= 0; j--)
      if (b->fds[j].revents & POLLNVAL) {
        drop(b, j);
        ++*dropped;
      }
  }
  return written;
}

static int poll_wait_events(wl_backend *base, struct epoll_event *out, int max_events,
                            int64_t timeout_ns) {
  poll_backend *b = (poll_backend *)base;
  int64_t deadline = wl_deadline_ns(timeout_ns);
  for (;;) {
    struct timespec ts;
    /* ppoll: poll with a timespec, for sub-millisecond deadlines. */
    int ready = ppoll(b->fds, (nfds_t)b->count, wl_timespec(timeout_ns, &ts), NULL);
    if (ready == 0) return 0;
    if (ready > 0) {
      int dropped;
      int written = collect(b, out, max_events, ready, &dropped);
      /* Only closed fds were ready: they are gone, so wait out the rest of the
       * timeout as epoll would. Each such round drops one fd at least, so
       * this cannot spin. */
      if (written > 0 || dropped == 0) return written;
    } else if (errno != EINTR) {
      return -errno;
    }
    timeout_ns = wl_remaining_ns(deadline);
  }
}

static int poll_free(wl_backend *base) {
  poll_backend *b = (poll_backend *)base;
  free(b->fds);
  free(b->entries);
  free(b->index_of);
  free(b);
  return 0;
}

static int poll_fd(wl_backend *base) {
  (void)base;
  return -ENOTSUP;
}

const wl_backend_ops wl_poll_ops = {
    .name = "poll",
    .create = poll_create_backend,
    .add = poll_add,
    .modify = poll_modify,
    .remove = poll_remove,
    .wait = poll_wait_events,
    .free = poll_free,
    .fd = poll_fd,
};
