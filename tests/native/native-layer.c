/* The native layer on its own, without Node: every backend through its ops,
 * and the socket and fd calls, as a plain C program. `npm run test:native`
 * builds it with gcov and runs it under valgrind (required when CI=true),
 * which must find no invalid access and no definite leak. Prints
 * "native-layer: N passed, N failed": prefixed, so that .ci/run's last line
 * is the only plain count in a CI log. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../native/wasmloop.h"

static int passed, failed;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (cond) {                                                                  \
      passed++;                                                                  \
    } else {                                                                     \
      failed++;                                                                  \
      fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, name, #cond); \
    }                                                                            \
  } while (0)

#define MS 1000000LL

static uint64_t data_of(int fd, uint32_t gen) { return (uint64_t)gen << 32 | (uint32_t)fd; }

static void backend_behaviour(const char *name) {
  const wl_backend_ops *ops = wl_backend_find(name);
  CHECK(ops != NULL);
  if (ops == NULL) return;
  wl_backend *b = NULL;
  CHECK(ops->create(&b) == 0);
  struct epoll_event out[4];
  int fds[2];
  CHECK(wl_pipe(fds) == 0);

  /* Nothing ready: the timeout runs out with no event. */
  CHECK(ops->add(b, fds[0], EPOLLIN, data_of(fds[0], 1)) == 0);
  CHECK(ops->wait(b, out, 4, 5 * MS) == 0);

  /* Readable: one record carrying the registered data. */
  CHECK(wl_write(fds[1], "x", 1) == 1);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 1);
  CHECK(out[0].data.u64 == data_of(fds[0], 1));
  CHECK((out[0].events & EPOLLIN) != 0);

  /* Misuse changes nothing. */
  CHECK(ops->add(b, fds[0], EPOLLIN, data_of(fds[0], 2)) == -EEXIST);
  CHECK(ops->modify(b, fds[1], EPOLLOUT, data_of(fds[1], 1)) == -ENOENT);
  CHECK(ops->remove(b, fds[1]) == -ENOENT);
  CHECK(ops->add(b, -1, EPOLLIN, 0) == -EBADF);

  /* One-shot: reported once until modified. */
  CHECK(ops->modify(b, fds[0], EPOLLIN | EPOLLONESHOT, data_of(fds[0], 3)) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 1);
  CHECK(out[0].data.u64 == data_of(fds[0], 3));
  CHECK(ops->wait(b, out, 4, 0) == 0);
  CHECK(ops->modify(b, fds[0], EPOLLIN, data_of(fds[0], 4)) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 1);

  /* Writable end, then a hang-up once the reader goes. */
  CHECK(ops->add(b, fds[1], EPOLLOUT, data_of(fds[1], 1)) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 2);
  CHECK(ops->remove(b, fds[0]) == 0);
  CHECK(ops->remove(b, fds[0]) == -ENOENT);
  char byte;
  CHECK(wl_read(fds[0], &byte, 1) == 1);
  CHECK(wl_close(fds[0]) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 1);
  CHECK(out[0].data.u64 == data_of(fds[1], 1));
  CHECK(ops->remove(b, fds[1]) == 0);
  CHECK(wl_close(fds[1]) == 0);

  /* An fd closed behind the backend's back is forgotten, not spun on. */
  int efd = wl_eventfd(1);
  CHECK(efd >= 0);
  CHECK(ops->add(b, efd, EPOLLIN, data_of(efd, 1)) == 0);
  CHECK(wl_close(efd) == 0);
  CHECK(ops->wait(b, out, 4, 5 * MS) == 0);

  if (ops->fd(b) >= 0) CHECK(strcmp(name, "epoll") == 0);
  CHECK(ops->free(b) == 0);
}

static void sockets(void) {
  const char *name = "sockets";
  int listener = wl_listen("127.0.0.1", 0, 16, 0);
  CHECK(listener >= 0);
  int port = wl_local_port(listener);
  CHECK(port > 0);
  int client = wl_connect("127.0.0.1", port);
  CHECK(client >= 0);
  int server = -EAGAIN;
  for (int i = 0; i < 1000 && server == -EAGAIN; i++) {
    server = wl_accept(listener, 0);
    if (server == -EAGAIN) usleep(1000);
  }
  CHECK(server >= 0);
  struct iovec iov[2] = {{.iov_base = "hel", .iov_len = 3}, {.iov_base = "lo", .iov_len = 2}};
  int written = -EAGAIN;
  for (int i = 0; i < 1000 && written == -EAGAIN; i++) {
    written = wl_writev(client, iov, 2);
    if (written == -EAGAIN) usleep(1000);
  }
  CHECK(written == 5);
  char buf[16];
  int got = -EAGAIN;
  for (int i = 0; i < 1000 && got == -EAGAIN; i++) {
    got = wl_read(server, buf, sizeof buf);
    if (got == -EAGAIN) usleep(1000);
  }
  CHECK(got == 5 && memcmp(buf, "hello", 5) == 0);
  CHECK(wl_shutdown(client, SHUT_WR) == 0);
  got = -EAGAIN;
  for (int i = 0; i < 1000 && got == -EAGAIN; i++) {
    got = wl_read(server, buf, sizeof buf);
    if (got == -EAGAIN) usleep(1000);
  }
  CHECK(got == 0);
  CHECK(wl_socket_error(server) == 0);
  CHECK(wl_close(server) == 0);
  CHECK(wl_close(client) == 0);
  CHECK(wl_close(listener) == 0);
  CHECK(wl_close(listener) == -EBADF);
  CHECK(wl_listen("not an address", 0, 16, 0) < 0);
}

int main(void) {
  backend_behaviour("epoll");
  backend_behaviour("poll");
  backend_behaviour("select");
  const char *name = "lookup";
  CHECK(wl_backend_find("kqueue") == NULL);
  sockets();
  printf("native-layer: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
