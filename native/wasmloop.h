/* wasmloop native layer: the only header the Node-API glue includes.
 *
 * Everything here talks to the kernel and nothing else. Every call returns
 * 0 (or a non-negative result) on success and -errno on failure; nothing
 * throws, nothing logs. Deciding what an event means is the wasm core's job.
 */
#ifndef WASMLOOP_H
#define WASMLOOP_H

#include <stdint.h>
#include <time.h>
#include <sys/epoll.h>
#include <sys/types.h>
#include <sys/uio.h>

/* ---- Backends --------------------------------------------------------------
 *
 * One file per backend (backend_epoll.c, ...), each defining the same small
 * contract over its own state, as Redis's ae_*.c files do. The loop picks a
 * backend once, at creation; there is no per-call switch on its kind.
 *
 * Readiness is reported in one record format whatever the backend: the
 * kernel's `struct epoll_event`, with `data.u64` carrying back what was given
 * to add/modify. Event bits are the EPOLL* values.
 */
typedef struct wl_backend wl_backend;

typedef struct wl_backend_ops {
  const char *name;
  /* Creates the backend's state; *out is set on success. */
  int (*create)(wl_backend **out);
  int (*add)(wl_backend *b, int fd, uint32_t events, uint64_t data);
  int (*modify)(wl_backend *b, int fd, uint32_t events, uint64_t data);
  int (*remove)(wl_backend *b, int fd);
  /* Waits up to timeout_ns (-1: forever) and writes at most max_events
   * records to out. Returns the number written (0 on timeout). EINTR is
   * retried with the time that remains, so a signal never ends a wait early. */
  int (*wait)(wl_backend *b, struct epoll_event *out, int max_events, int64_t timeout_ns);
  /* Releases the kernel object and the state. */
  int (*free)(wl_backend *b);
  /* The one fd that turns readable when the backend has events, for a loop
   * embedded in another (libuv's uv_poll); -ENOTSUP when there is none. */
  int (*fd)(wl_backend *b);
} wl_backend_ops;

/* Every backend's state starts with this, so the glue can find its ops. */
struct wl_backend {
  const wl_backend_ops *ops;
};

extern const wl_backend_ops wl_epoll_ops;
/* poll(2) and select(2) keep the interest set in user space and hand it to the
 * kernel on every wait: O(registered) per wait, no syscall per add/modify.
 * Level-triggered only (EPOLLET in a mask: -EINVAL); EPOLLONESHOT is
 * emulated: a reported fd is left out of later waits until modified. They
 * check at add time what epoll_ctl would (-EBADF, -EPERM, -EEXIST), report
 * the same records, and take turns (round-robin) when more fds are ready than
 * one wait may report. select refuses fd >= FD_SETSIZE (-ERANGE). */
extern const wl_backend_ops wl_poll_ops;
extern const wl_backend_ops wl_select_ops;

/* Looks a backend up by name; NULL when there is none by that name. */
const wl_backend_ops *wl_backend_find(const char *name);

/* Timeouts are nanoseconds (-1: forever), so a wait can end at a timer's
 * deadline to the microsecond instead of the next whole millisecond.
 * wl_deadline_ns: the CLOCK_MONOTONIC time a wait of timeout_ns ends (-1 for
 * forever); wl_remaining_ns: what is left of it, never negative, so backends
 * retry EINTR without lengthening the wait; wl_timeout_ms: a timeout for
 * millisecond-only calls, rounded up; wl_timespec: ts filled in, or NULL for
 * forever. */
int64_t wl_deadline_ns(int64_t timeout_ns);
int64_t wl_remaining_ns(int64_t deadline_ns);
int wl_timeout_ms(int64_t timeout_ns);
struct timespec *wl_timespec(int64_t timeout_ns, struct timespec *ts);

/* Which open file an fd named when it was registered, so a backend that keeps
 * its own interest set can tell that fd from a later file given the same
 * number (epoll forgets a registration when its file is closed). */
typedef struct {
  dev_t dev;
  ino_t ino;
} wl_file_id;

/* The checks epoll_ctl(ADD) makes, for backends whose kernel never sees an
 * add: -EINVAL for an edge-triggered or one-shot mask, -EBADF for a closed
 * fd, -EPERM for a regular file or directory (always "ready", so epoll
 * refuses them). On success *file identifies the open file. */
int wl_check_level_triggered(uint32_t events);
int wl_check_pollable(int fd, wl_file_id *file);
/* 0 if fd still names `file`; -EBADF if it is closed, -ENOENT if its number
 * now belongs to another file: what epoll_ctl(DEL) answers in those cases. */
int wl_check_same_file(int fd, const wl_file_id *file);

/* ---- Sockets ---------------------------------------------------------------
 *
 * Every socket is created non-blocking and close-on-exec. Addresses are
 * numeric IPv4 or IPv6 literals or Unix socket paths; name resolution
 * belongs to the host.
 */
enum {
  WL_LISTEN_REUSEPORT = 1 << 0, /* SO_REUSEPORT: one listener per thread */
  WL_ACCEPT_NODELAY = 1 << 0,   /* TCP_NODELAY on the accepted socket */
};

int wl_listen(const char *host, int port, int backlog, int flags);
/* An AF_UNIX listener bound to `path` (created by bind): -EADDRINUSE if the
 * path exists, -ENAMETOOLONG past sun_path. */
int wl_listen_unix(const char *path, int backlog);
int wl_connect(const char *host, int port);
/* A non-blocking AF_UNIX stream connect to path (-ENAMETOOLONG past sun_path). */
int wl_connect_unix(const char *path);
int wl_accept(int listen_fd, int flags);
int wl_read(int fd, void *buf, size_t len);
int wl_write(int fd, const void *buf, size_t len);
int wl_writev(int fd, const struct iovec *iov, int iovcnt);
/* One read of up to `slot` bytes for each of `count` sockets, the fd in
 * plan[i], and plan[i] becomes what wl_read returned (bytes, 0 at EOF,
 * -errno). The bytes are packed: each read's follow the last one's in
 * `data` (which holds count * slot), so a batch of small reads shares cache
 * lines. One crossing reads a whole batch. */
void wl_read_many(int32_t *plan, int count, uint8_t *data, size_t slot);
/* One write for each of `count` entries of the plan, two int32s each: an fd
 * and a length, its bytes packed in `data` one entry after another. Each
 * length becomes what wl_write returned (bytes taken, -errno). An entry
 * whose fd is negative is skipped (its length unchanged, its bytes passed
 * over). One crossing writes a whole batch's replies. */
void wl_write_many(int32_t *plan, int count, const uint8_t *data);
int wl_shutdown(int fd, int how);
int wl_close(int fd);
/* The pending socket error (SO_ERROR) as a positive errno, 0 when none. */
int wl_socket_error(int fd);
/* The local port of a bound socket. */
int wl_local_port(int fd);

/* ---- A connected socket's addresses and options (socket_info.c) ----------
 *
 * wl_address: the local (peer 0) or remote (peer 1) address as text into
 * text[size] and its port into *port; returns the family (AF_INET, AF_INET6,
 * or AF_UNIX with no text), or -errno. wl_tcp_options: TCP_NODELAY,
 * SO_KEEPALIVE and TCP_KEEPIDLE into out[0..2].
 */
int wl_address(int fd, int peer, char *text, size_t size, int *port);
int wl_set_nodelay(int fd, int on);
int wl_set_keepalive(int fd, int on, int idle_seconds);
int wl_tcp_options(int fd, int out[3]);

/* ---- Other pollable fds ------------------------------------------------------
 *
 * Kernel objects a loop can watch besides sockets: for waking a loop from
 * another thread (eventfd), timers the kernel keeps (timerfd), and tests.
 * Every fd is created non-blocking and close-on-exec.
 */
int wl_pipe(int fds[2]);
int wl_eventfd(unsigned initial);
/* Adds n to the counter; -EAGAIN when that would overflow it. */
int wl_eventfd_write(int fd, uint64_t n);
/* Reads and resets an eventfd counter or a timerfd expiration count into
 * *value; -EAGAIN when it is zero. */
int wl_read_counter(int fd, uint64_t *value);
/* First expiry after ms (0: at once), then every interval_ms (0: once). */
int wl_timerfd(uint32_t ms, uint32_t interval_ms);
/* The lowest free fd >= min_fd naming the same file (F_DUPFD_CLOEXEC). */
int wl_dup_fd(int fd, int min_fd);
/* The soft RLIMIT_NOFILE (INT32_MAX when unlimited), or -errno. */
int64_t wl_fd_limit(void);

#endif
