/* The one-core ceiling: a minimal single-threaded, level-triggered epoll
 * server in C, the shape of Redis's ae without its generality.
 *
 *   c-epoll-echo [--host ADDR] [--port N] [--mode echo|http|resp]
 *
 * echo: every byte back. http: every request (up to its blank line) gets
 * "hello"; bodies are not supported. resp: PING [msg], ECHO, SET k v, GET,
 * INCR, CONFIG GET save|appendonly, COMMAND; inline or multibulk, pipelined.
 * All replies to one read leave in one write. While a connection has output
 * the kernel did not take, it is watched for EPOLLOUT only, so a peer that
 * does not read stops being read (bounded memory, no epoll_ctl per read).
 *
 * Prints "c-epoll <mode> server listening on HOST:PORT" once ready.
 * Built by scripts/build-bench-peers.mjs into build/bench-peers/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum mode { MODE_ECHO, MODE_HTTP, MODE_RESP };

/* 64 KiB per read, as libuv offers Node and as wasmloop's server reads. */
#define READ_SIZE (64 * 1024)
#define MAX_EVENTS 256
/* Accepts per listener event, so a connection storm cannot hold the loop. */
#define ACCEPTS_PER_EVENT 64
/* Unparsed input beyond this (a header section, a RESP request) closes the connection. */
#define MAX_PENDING (1 << 20)
#define MAX_ARGS 16
#define BUCKETS 65536

struct buffer {
  char *data;
  size_t len, cap, off;
};

struct conn {
  int open;
  /* Output is queued: watched for EPOLLOUT only, not read. */
  int waiting;
  struct buffer in, out;
};

static enum mode mode = MODE_ECHO;
static int epfd;
static struct conn *conns;
static int conns_cap;
static char readbuf[READ_SIZE];
static volatile sig_atomic_t stopping;

static const char HELLO[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void append(struct buffer *b, const char *data, size_t len) {
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + len) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("realloc");
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void append_str(struct buffer *b, const char *s) { append(b, s, strlen(s)); }

static void append_bulk(struct buffer *b, const char *data, size_t len) {
  char head[32];
  int n = snprintf(head, sizeof head, "$%zu\r\n", len);
  append(b, head, (size_t)n);
  append(b, data, len);
  append(b, "\r\n", 2);
}

/* ---- the RESP store: chained hash table, keys and values copied ---- */

struct entry {
  struct entry *next;
  size_t klen, vlen;
  char *key, *value;
};
static struct entry *buckets[BUCKETS];

static uint32_t hash(const char *key, size_t len) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)key[i]) * 16777619u;
  return h & (BUCKETS - 1);
}

static struct entry *lookup(const char *key, size_t klen) {
  for (struct entry *e = buckets[hash(key, klen)]; e; e = e->next)
    if (e->klen == klen && memcmp(e->key, key, klen) == 0) return e;
  return NULL;
}

static void store(const char *key, size_t klen, const char *value, size_t vlen) {
  struct entry *e = lookup(key, klen);
  if (!e) {
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = malloc(klen ? klen : 1))) die("malloc");
    memcpy(e->key, key, klen);
    e->klen = klen;
    uint32_t h = hash(key, klen);
    e->next = buckets[h];
    buckets[h] = e;
  }
  free(e->value);
  if (!(e->value = malloc(vlen ? vlen : 1))) die("malloc");
  memcpy(e->value, value, vlen);
  e->vlen = vlen;
}

/* ---- RESP ---- */

struct arg {
  const char *p;
  size_t len;
};

static int is(const struct arg *a, const char *name) {
  return a->len == strlen(name) && strncasecmp(a->p, name, a->len) == 0;
}

static void execute(struct buffer *out, struct arg *argv, int argc) {
  if (is(&argv[0], "ping") && argc <= 2) {
    if (argc == 2) append_bulk(out, argv[1].p, argv[1].len);
    else append_str(out, "+PONG\r\n");
  } else if (is(&argv[0], "echo") && argc == 2) {
    append_bulk(out, argv[1].p, argv[1].len);
  } else if (is(&argv[0], "set") && argc == 3) {
    store(argv[1].p, argv[1].len, argv[2].p, argv[2].len);
    append_str(out, "+OK\r\n");
  } else if (is(&argv[0], "get") && argc == 2) {
    struct entry *e = lookup(argv[1].p, argv[1].len);
    if (e) append_bulk(out, e->value, e->vlen);
    else append_str(out, "$-1\r\n");
  } else if (is(&argv[0], "incr") && argc == 2) {
    struct entry *e = lookup(argv[1].p, argv[1].len);
    char text[32] = "0", *end;
    if (e && e->vlen < sizeof text) {
      memcpy(text, e->value, e->vlen);
      text[e->vlen] = 0;
    }
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if ((e && e->vlen >= sizeof text) || *end || errno || value == INT64_MAX) {
      append_str(out, "-ERR value is not an integer or out of range\r\n");
      return;
    }
    int n = snprintf(text, sizeof text, "%lld", value + 1);
    store(argv[1].p, argv[1].len, text, (size_t)n);
    char reply[40];
    append(out, reply, (size_t)snprintf(reply, sizeof reply, ":%s\r\n", text));
  } else if (is(&argv[0], "config") && argc == 3 && is(&argv[1], "get")) {
    /* redis-benchmark asks for these two before it starts. */
    if (is(&argv[2], "save")) append_str(out, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    else if (is(&argv[2], "appendonly")) append_str(out, "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    else append_str(out, "*0\r\n");
  } else if (is(&argv[0], "command")) {
    append_str(out, "*0\r\n");
  } else {
    append_str(out, "-ERR unknown command or wrong number of arguments\r\n");
  }
}

/* A number line "<c>N\r\n" at p; returns the offset after it, 0 if incomplete, -1 if bad. */
static long number_line(const char *p, size_t n, long *value) {
  const char *cr = memchr(p, '\r', n);
  if (!cr || (size_t)(cr - p) + 1 >= n) return 0;
  char *end;
  *value = strtol(p + 1, &end, 10);
  if (end != cr || cr == p + 1) return -1;
  return cr - p + 2;
}

/* Parses one request at p; returns bytes consumed (argc 0: nothing to run), 0 if incomplete, -1 if malformed. */
static long parse_resp(const char *p, size_t n, struct arg *argv, int *argc) {
  *argc = 0;
  if (p[0] != '*') {
    const char *nl = memchr(p, '\n', n);
    if (!nl) return 0;
    size_t len = (size_t)(nl - p);
    size_t i = 0;
    while (i < len) {
      while (i < len && (p[i] == ' ' || p[i] == '\r')) i++;
      if (i == len) break;
      if (*argc == MAX_ARGS) return -1;
      argv[*argc].p = p + i;
      while (i < len && p[i] != ' ' && p[i] != '\r') i++;
      argv[*argc].len = (size_t)(p + i - argv[*argc].p);
      (*argc)++;
    }
    return (long)len + 1;
  }
  long count;
  long at = number_line(p, n, &count);
  if (at <= 0) return at;
  if (count > MAX_ARGS) return -1;
  for (long i = 0; i < count; i++) {
    if ((size_t)at >= n) return 0;
    if (p[at] != '$') return -1;
    long len;
    long used = number_line(p + at, n - (size_t)at, &len);
    if (used <= 0) return used;
    if (len < 0 || len > MAX_PENDING) return -1;
    at += used;
    if ((size_t)(at + len + 2) > n) return 0;
    argv[i].p = p + at;
    argv[i].len = (size_t)len;
    at += len + 2;
  }
  *argc = count > 0 ? (int)count : 0;
  return at;
}

/* ---- connections ---- */

static void close_conn(int fd) {
  struct conn *c = &conns[fd];
  free(c->in.data);
  free(c->out.data);
  memset(c, 0, sizeof *c);
  close(fd); /* also removes it from the epoll set */
}

static void watch(int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.fd = fd};
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl");
}

/* Writes what is queued; returns -1 if the connection died. */
static int flush(int fd) {
  struct conn *c = &conns[fd];
  struct buffer *out = &c->out;
  while (out->off < out->len) {
    ssize_t n = write(fd, out->data + out->off, out->len - out->off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!c->waiting) {
        c->waiting = 1;
        watch(fd, EPOLLOUT);
      }
      return 0;
    }
    if (n < 0) return -1;
    out->off += (size_t)n;
  }
  out->len = out->off = 0;
  if (c->waiting) {
    c->waiting = 0;
    watch(fd, EPOLLIN);
  }
  return 0;
}

/* Parses what is pending in c->in, queues the replies; returns -1 to close. */
static int process(struct conn *c) {
  size_t at = 0;
  int close_after = 0;
  if (mode == MODE_HTTP) {
    for (;;) {
      char *end = memmem(c->in.data + at, c->in.len - at, "\r\n\r\n", 4);
      if (!end) break;
      append(&c->out, HELLO, sizeof HELLO - 1);
      at = (size_t)(end - c->in.data) + 4;
    }
  } else {
    struct arg argv[MAX_ARGS];
    while (at < c->in.len) {
      int argc;
      long used = parse_resp(c->in.data + at, c->in.len - at, argv, &argc);
      if (used == 0) break;
      if (used < 0) {
        append_str(&c->out, "-ERR Protocol error\r\n");
        close_after = 1;
        break;
      }
      if (argc > 0) execute(&c->out, argv, argc);
      at += (size_t)used;
    }
  }
  memmove(c->in.data, c->in.data + at, c->in.len - at);
  c->in.len -= at;
  if (c->in.len > MAX_PENDING) return -1;
  return close_after ? -1 : 0;
}

static void on_readable(int fd) {
  struct conn *c = &conns[fd];
  ssize_t n = read(fd, readbuf, sizeof readbuf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close_conn(fd);
    return;
  }
  int verdict = 0;
  if (mode == MODE_ECHO) {
    append(&c->out, readbuf, (size_t)n);
  } else {
    append(&c->in, readbuf, (size_t)n);
    verdict = process(c);
  }
  if (flush(fd) < 0 || verdict < 0) close_conn(fd);
}

static void on_accept(int listener) {
  for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
    int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) perror("accept4");
      return;
    }
    if (fd >= conns_cap) {
      int cap = conns_cap;
      while (cap <= fd) cap *= 2;
      conns = realloc(conns, (size_t)cap * sizeof *conns);
      if (!conns) die("realloc");
      memset(conns + conns_cap, 0, (size_t)(cap - conns_cap) * sizeof *conns);
      conns_cap = cap;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conns[fd].open = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }
}

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

int main(int argc, char **argv) {
  const char *host = "127.0.0.1";
  int port = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = atoi(argv[++i]);
    else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) host = argv[++i];
    else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
      const char *m = argv[++i];
      if (strcmp(m, "echo") == 0) mode = MODE_ECHO;
      else if (strcmp(m, "http") == 0) mode = MODE_HTTP;
      else if (strcmp(m, "resp") == 0) mode = MODE_RESP;
      else {
        fprintf(stderr, "c-epoll-echo: --mode must be echo, http or resp\n");
        return 2;
      }
    } else {
      fprintf(stderr, "usage: c-epoll-echo [--host ADDR] [--port N] [--mode echo|http|resp]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "c-epoll-echo: --host must be an IPv4 address\n");
    return 2;
  }
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(listener, 511) < 0) die("listen");
  socklen_t len = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &len);

  conns_cap = 1024;
  conns = calloc((size_t)conns_cap, sizeof *conns);
  if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener};
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &ev) < 0) die("epoll_ctl");

  static const char *names[] = {"echo", "http", "resp"};
  printf("c-epoll %s server listening on %s:%d\n", names[mode], host, ntohs(addr.sin_port));
  fflush(stdout);

  struct epoll_event events[MAX_EVENTS];
  while (!stopping) {
    int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) on_accept(listener);
      else if (!conns[fd].open) continue;
      else if (events[i].events & EPOLLOUT) {
        if (flush(fd) < 0) close_conn(fd);
      } else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
    }
  }
  for (int fd = 0; fd < conns_cap; fd++)
    if (conns[fd].open) close_conn(fd);
  close(listener);
  close(epfd);
  return 0;
}
