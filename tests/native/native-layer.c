/* The native layer on its own, without Node: every backend through its ops,
 * and the socket and fd calls, as a plain C program. `npm run test:native`
 * builds it with gcov and runs it under valgrind (required when CI=true),
 * which must find no invalid access and no definite leak. Prints
 * "native-layer: N passed, N failed": prefixed, so that .ci/run's last line
 * is the only plain count in a CI log. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
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

/* How long the wait on a closed fd lasts: long enough that spinning through
 * it stands out from sleeping whatever the machine's load. */
#define SPIN_WAIT_MS 200

/* How long this thread has wanted the CPU, ns: time on it plus time waiting
 * in the run queue for it (/proc/self/schedstat). A thread that spins wants
 * it all along, so this grows by the wait's length however little CPU a
 * loaded machine gives it; one that sleeps adds only its wake-up. Without
 * schedstat (a kernel built without it), CPU time, which only shows a spin
 * that gets a fair share of the CPU. */
static int64_t runnable_ns(void) {
  unsigned long long on_cpu, queued;
  FILE *f = fopen("/proc/self/schedstat", "r");
  int got = f != NULL && fscanf(f, "%llu %llu", &on_cpu, &queued) == 2;
  if (f != NULL) fclose(f);
  if (got) return (int64_t)(on_cpu + queued);
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Writes to the non-blocking `fd` until the pipe is full; returns the bytes written. */
static int fill(int fd) {
  static const char block[4096];
  int total = 0, n;
  while ((n = wl_write(fd, block, sizeof block)) > 0) total += n;
  while ((n = wl_write(fd, block, 1)) > 0) total += n;
  return n == -EAGAIN ? total : -1;
}

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

  /* Writable end, then a hang-up once the reader goes. The pipe is filled
   * first, so the writer is not writable and only the reader's close can
   * make it ready: as an error (select, which has no set for errors, as
   * writable), and a write then fails with EPIPE. */
  CHECK(ops->add(b, fds[1], EPOLLOUT, data_of(fds[1], 1)) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 2);
  CHECK(ops->remove(b, fds[0]) == 0);
  CHECK(ops->remove(b, fds[0]) == -ENOENT);
  char byte;
  CHECK(wl_read(fds[0], &byte, 1) == 1);
  CHECK(fill(fds[1]) > 0);
  CHECK(ops->wait(b, out, 4, 5 * MS) == 0);
  CHECK(wl_close(fds[0]) == 0);
  CHECK(ops->wait(b, out, 4, 1000 * MS) == 1);
  CHECK(out[0].data.u64 == data_of(fds[1], 1));
  CHECK((out[0].events & (strcmp(name, "select") == 0 ? EPOLLOUT : EPOLLERR)) != 0);
  CHECK(wl_write(fds[1], "x", 1) == -EPIPE);
  CHECK(ops->remove(b, fds[1]) == 0);
  CHECK(wl_close(fds[1]) == 0);

  /* An fd closed behind the backend's back is forgotten, not spun on: the
   * wait sleeps out its timeout instead of wanting the CPU through it. */
  int efd = wl_eventfd(1);
  CHECK(efd >= 0);
  CHECK(ops->add(b, efd, EPOLLIN, data_of(efd, 1)) == 0);
  CHECK(wl_close(efd) == 0);
  int64_t runnable = runnable_ns();
  CHECK(ops->wait(b, out, 4, SPIN_WAIT_MS * MS) == 0);
  runnable = runnable_ns() - runnable;
  CHECK(runnable < SPIN_WAIT_MS * MS / 2);
  if (runnable >= SPIN_WAIT_MS * MS / 2)
    fprintf(stderr, "%s: a %d ms wait on a closed fd wanted the CPU for %.1f ms\n", name, SPIN_WAIT_MS, runnable / 1e6);

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

/* An AF_UNIX listener: its file, EADDRINUSE while the file exists, the
 * length limit, and accept with TCP_NODELAY asked (and harmlessly refused). */
static void unix_sockets(void) {
  const char *name = "unix sockets";
  char dir[] = "/tmp/wasmloop-native-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path, sizeof un.sun_path, "%s/s.sock", dir);
  int listener = wl_listen_unix(un.sun_path, 16);
  CHECK(listener >= 0);
  CHECK(access(un.sun_path, F_OK) == 0);
  CHECK(wl_listen_unix(un.sun_path, 16) == -EADDRINUSE);
  CHECK(wl_local_port(listener) == -EAFNOSUPPORT);
  int client = socket(AF_UNIX, SOCK_STREAM, 0);
  CHECK(client >= 0 && connect(client, (struct sockaddr *)&un, sizeof un) == 0);
  int server = wl_accept(listener, WL_ACCEPT_NODELAY);
  CHECK(server >= 0);
  CHECK(wl_write(client, "u", 1) == 1);
  char byte = 0;
  CHECK(wl_read(server, &byte, 1) == 1 && byte == 'u');
  CHECK(wl_close(server) == 0 && wl_close(client) == 0 && wl_close(listener) == 0);
  /* Closing leaves the file: removing it is the owner's call. */
  CHECK(unlink(un.sun_path) == 0);
  char longest[sizeof un.sun_path + 1];
  memset(longest, 'a', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  CHECK(wl_listen_unix(longest, 16) == -ENAMETOOLONG);
  CHECK(wl_listen_unix("", 16) == -EINVAL);
  CHECK(rmdir(dir) == 0);
}

/* wl_read_many: one read per fd, each result in place of its fd, the bytes
 * packed one read after another; EOF and errors are results like bytes. */
static void read_many(void) {
  const char *name = "read many";
  int a[2], b[2], c[2];
  CHECK(wl_pipe(a) == 0 && wl_pipe(b) == 0 && wl_pipe(c) == 0);
  CHECK(wl_write(a[1], "first", 5) == 5);
  CHECK(wl_write(b[1], "second!", 7) == 7);
  CHECK(wl_close(c[1]) == 0);
  int32_t plan[4] = {a[0], -1, b[0], c[0]};
  uint8_t data[4 * 8];
  memset(data, 0, sizeof data);
  wl_read_many(plan, 4, data, 8);
  CHECK(plan[0] == 5 && plan[1] == -EBADF && plan[2] == 7 && plan[3] == 0);
  /* The second read's bytes follow the first's, not at its slot. */
  CHECK(memcmp(data, "firstsecond!", 12) == 0);
  /* Nothing more to read: EAGAIN, and a slot bounds a read. */
  CHECK(wl_write(a[1], "0123456789", 10) == 10);
  int32_t again[2] = {a[0], b[0]};
  wl_read_many(again, 2, data, 4);
  CHECK(again[0] == 4 && again[1] == -EAGAIN && memcmp(data, "0123", 4) == 0);
  CHECK(wl_close(a[0]) == 0 && wl_close(a[1]) == 0 && wl_close(b[0]) == 0 && wl_close(b[1]) == 0 && wl_close(c[0]) == 0);
}

/* wl_write_many: one write per entry (fd, length), each length replaced by
 * its result, the bytes taken one entry after another; a negative fd is
 * skipped, its bytes passed over. */
static void write_many(void) {
  const char *name = "write many";
  int a[2], b[2], c[2];
  CHECK(wl_pipe(a) == 0 && wl_pipe(b) == 0 && wl_pipe(c) == 0);
  CHECK(wl_close(c[0]) == 0);
  int32_t plan[8] = {a[1], 5, -1, 4, b[1], 7, c[1], 3};
  const uint8_t *data = (const uint8_t *)"firstSKIPsecond!end";
  wl_write_many(plan, 4, data);
  CHECK(plan[1] == 5 && plan[3] == 4 && plan[5] == 7 && plan[7] == -EPIPE);
  char got[16];
  CHECK(wl_read(a[0], got, sizeof got) == 5 && memcmp(got, "first", 5) == 0);
  CHECK(wl_read(b[0], got, sizeof got) == 7 && memcmp(got, "second!", 7) == 0);
  CHECK(wl_read(a[0], got, sizeof got) == -EAGAIN);
  CHECK(wl_close(a[0]) == 0 && wl_close(a[1]) == 0 && wl_close(b[0]) == 0 && wl_close(b[1]) == 0 && wl_close(c[1]) == 0);
}

int main(void) {
  /* A write to a pipe whose reader is gone must fail with EPIPE, not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  backend_behaviour("epoll");
  backend_behaviour("poll");
  backend_behaviour("select");
  const char *name = "lookup";
  CHECK(wl_backend_find("kqueue") == NULL);
  sockets();
  unix_sockets();
  read_many();
  write_many();
  printf("native-layer: %d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
