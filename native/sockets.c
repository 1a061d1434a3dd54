/* Socket calls for servers and tests. Each returns a result >= 0 or -errno.
 *
 * Writes use write()/writev() rather than send(MSG_NOSIGNAL) so the same calls
 * serve pipes: Node ignores SIGPIPE process-wide, so a write to a closed peer
 * is an EPIPE return, never a signal. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "wasmloop.h"

/* Parses a numeric IPv4 or IPv6 address; -EINVAL for anything else. */
static int parse_address(const char *host, int port, struct sockaddr_storage *ss,
                         socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (port < 0 || port > 65535) return -EINVAL;
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return AF_INET;
  }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return AF_INET6;
  }
  return -EINVAL;
}

/* Closes fd keeping the errno that made us give up on it. */
static int fail_and_close(int fd) {
  int err = errno;
  close(fd);
  return -err;
}

/* A non-blocking, close-on-exec TCP socket for host:port; ss/len get the address. */
static int tcp_socket(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
  int family = parse_address(host, port, ss, len);
  if (family < 0) return family;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

int wl_listen(const char *host, int port, int backlog, int flags) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fd = tcp_socket(host, port, &ss, &len);
  if (fd < 0) return fd;
  int on = 1;
  /* SO_REUSEADDR lets a restarted server bind while old connections sit in
   * TIME_WAIT; SO_REUSEPORT lets several threads each own a listener. */
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return fail_and_close(fd);
  if ((flags & WL_LISTEN_REUSEPORT) &&
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0)
    return fail_and_close(fd);
  if (bind(fd, (struct sockaddr *)&ss, len) != 0) return fail_and_close(fd);
  if (listen(fd, backlog) != 0) return fail_and_close(fd);
  return fd;
}

/* No SO_REUSEADDR: a Unix socket's address is its file, and bind() fails
 * with EADDRINUSE while the file exists, stale or not, as node:net leaves
 * it; removing the file is its owner's call. */
int wl_listen_unix(const char *path, int backlog) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  size_t len = strlen(path);
  if (len == 0) return -EINVAL;
  if (len >= sizeof un.sun_path) return -ENAMETOOLONG;
  memcpy(un.sun_path, path, len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (struct sockaddr *)&un, sizeof un) != 0) return fail_and_close(fd);
  if (listen(fd, backlog) != 0) {
    int err = errno;
    unlink(path);
    close(fd);
    return -err;
  }
  return fd;
}

int wl_connect(const char *host, int port) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fd = tcp_socket(host, port, &ss, &len);
  if (fd < 0) return fd;
  /* A non-blocking connect finishes later: the socket turns writable, or
   * reports EPOLLERR with the reason in SO_ERROR. */
  if (connect(fd, (struct sockaddr *)&ss, len) != 0 && errno != EINPROGRESS)
    return fail_and_close(fd);
  return fd;
}

int wl_connect_unix(const char *path) {
  struct sockaddr_un un;
  memset(&un, 0, sizeof un);
  size_t len = strlen(path);
  /* sun_path holds the path and its NUL; a longer one cannot be named. */
  if (len == 0) return -EINVAL;
  if (len >= sizeof un.sun_path) return -ENAMETOOLONG;
  un.sun_family = AF_UNIX;
  memcpy(un.sun_path, path, len);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  /* A Unix socket connects at once or fails at once (ECONNREFUSED, ENOENT,
   * EAGAIN for a full backlog: no connection is pending then, as libuv
   * reports it too); the caller still learns the outcome from writability
   * and SO_ERROR, as for TCP. */
  socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
  if (connect(fd, (struct sockaddr *)&un, size) != 0 && errno != EINPROGRESS)
    return fail_and_close(fd);
  return fd;
}

int wl_accept(int listen_fd, int flags) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return -errno;
  if (flags & WL_ACCEPT_NODELAY) {
    int on = 1;
    /* Failure is harmless (a Unix socket has no Nagle): the connection works. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  return fd;
}

int wl_read(int fd, void *buf, size_t len) {
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return (int)n;
    if (errno != EINTR) return -errno;
  }
}

void wl_read_many(int32_t *plan, int count, uint8_t *data, size_t slot) {
  size_t at = 0;
  for (int i = 0; i < count; i++) {
    int n = wl_read(plan[i], data + at, slot);
    plan[i] = n;
    if (n > 0) at += (size_t)n;
  }
}

int wl_write(int fd, const void *buf, size_t len) {
  for (;;) {
    ssize_t n = write(fd, buf, len);
    if (n >= 0) return (int)n;
    if (errno != EINTR) return -errno;
  }
}

void wl_write_many(int32_t *plan, int count, const uint8_t *data) {
  size_t at = 0;
  for (int i = 0; i < count; i++) {
    int32_t fd = plan[2 * i], length = plan[2 * i + 1];
    /* A cancelled entry (its connection closed: the fd may be another's now) keeps its place in the bytes. */
    if (fd >= 0) plan[2 * i + 1] = wl_write(fd, data + at, (size_t)length);
    at += (size_t)length;
  }
}

int wl_writev(int fd, const struct iovec *iov, int iovcnt) {
  for (;;) {
    ssize_t n = writev(fd, iov, iovcnt);
    if (n >= 0) return (int)n;
    if (errno != EINTR) return -errno;
  }
}

int wl_shutdown(int fd, int how) { return shutdown(fd, how) == 0 ? 0 : -errno; }

int wl_close(int fd) {
  /* Never retried: on Linux the descriptor is released even when close()
   * reports EINTR, and a retry could close a number another thread reused. */
  return close(fd) == 0 ? 0 : -errno;
}

int wl_socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
  return err;
}

int wl_local_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) return -errno;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -EAFNOSUPPORT;
}
