/* What a connected socket can tell about itself, and the per-connection
 * options node:net users set: its two addresses (getsockname/getpeername)
 * and TCP_NODELAY / SO_KEEPALIVE. Each returns >= 0 or -errno. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

#include "wasmloop.h"

int wl_address(int fd, int peer, char *text, size_t size, int *port) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int rc = peer ? getpeername(fd, (struct sockaddr *)&ss, &len) : getsockname(fd, (struct sockaddr *)&ss, &len);
  if (rc != 0) return -errno;
  *port = 0;
  if (size > 0) text[0] = '\0';
  if (ss.ss_family == AF_INET) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    if (inet_ntop(AF_INET, &in4->sin_addr, text, (socklen_t)size) == NULL) return -errno;
    *port = ntohs(in4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, (socklen_t)size) == NULL) return -errno;
    *port = ntohs(in6->sin6_port);
  }
  /* AF_UNIX (or another family): the family alone; node:net gives no address for it. */
  return ss.ss_family;
}

int wl_set_nodelay(int fd, int on) {
  return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) == 0 ? 0 : -errno;
}

int wl_set_keepalive(int fd, int on, int idle_seconds) {
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0) return -errno;
  /* 0 keeps the system's idle time (net.ipv4.tcp_keepalive_time), as node:net does. */
  if (on && idle_seconds > 0 &&
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_seconds, sizeof idle_seconds) != 0)
    return -errno;
  return 0;
}

int wl_tcp_options(int fd, int out[3]) {
  socklen_t len = sizeof out[0];
  if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &out[0], &len) != 0) return -errno;
  len = sizeof out[1];
  if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &out[1], &len) != 0) return -errno;
  len = sizeof out[2];
  if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &out[2], &len) != 0) return -errno;
  return 0;
}
