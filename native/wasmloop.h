/* wasmloop native layer: the only header the Node-API glue includes.
 *
 * Everything here talks to the kernel and nothing else. Every call returns
 * 0 (or a non-negative result) on success and -errno on failure; nothing
 * throws, nothing logs. Deciding what an event means is the wasm core's job.
 */
#ifndef WASMLOOP_H
#define WASMLOOP_H

#include <stdint.h>
#include <sys/epoll.h>
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
  /* Waits up to timeout_ms (-1: forever) and writes at most max_events
   * records to out. Returns the number written (0 on timeout). EINTR is
   * retried with the time that remains, so a signal never ends a wait early. */
  int (*wait)(wl_backend *b, struct epoll_event *out, int max_events, int timeout_ms);
  /* Releases the kernel object and the state. */
  int (*free)(wl_backend *b);
} wl_backend_ops;

/* Every backend's state starts with this, so the glue can find its ops. */
struct wl_backend {
  const wl_backend_ops *ops;
};

extern const wl_backend_ops wl_epoll_ops;

/* Looks a backend up by name; NULL when there is none by that name. */
const wl_backend_ops *wl_backend_find(const char *name);

/* Milliseconds left until deadline_ns on CLOCK_MONOTONIC, rounded up, never
 * negative. Backends use it to retry EINTR without lengthening the wait. */
int wl_remaining_ms(int64_t deadline_ns);
int64_t wl_deadline_ns(int timeout_ms);

/* ---- Sockets ---------------------------------------------------------------
 *
 * Every socket is created non-blocking and close-on-exec. Addresses are
 * numeric IPv4 or IPv6 literals; name resolution belongs to the host.
 */
enum {
  WL_LISTEN_REUSEPORT = 1 << 0, /* SO_REUSEPORT: one listener per thread */
  WL_ACCEPT_NODELAY = 1 << 0,   /* TCP_NODELAY on the accepted socket */
};

int wl_listen(const char *host, int port, int backlog, int flags);
int wl_connect(const char *host, int port);
int wl_accept(int listen_fd, int flags);
int wl_read(int fd, void *buf, size_t len);
int wl_write(int fd, const void *buf, size_t len);
int wl_writev(int fd, const struct iovec *iov, int iovcnt);
int wl_shutdown(int fd, int how);
int wl_close(int fd);
/* The pending socket error (SO_ERROR) as a positive errno, 0 when none. */
int wl_socket_error(int fd);
/* The local port of a bound socket. */
int wl_local_port(int fd);

#endif
