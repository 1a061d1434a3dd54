/* Node-API glue: turns JS integers into native calls and results back into
 * integers. No policy lives here. The host (src/native.ts) validates every
 * argument first; the checks below only keep a misuse from touching memory
 * it should not, and answer -EINVAL.
 *
 * Loops are numbered: a backend is created with the wasm core's linear memory
 * (an ArrayBuffer whose size never changes, so its base pointer is stable for
 * the loop's life) and the byte offset of the events region inside it. Each
 * wait writes `struct epoll_event` records straight there, where the core
 * reads them: one crossing per wait, nothing copied, nothing allocated. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>

#include "glue.h"

/* -------- argument helpers ------------------------------------------------ */

/* Most results (byte counts, fds, -errno) fit an int32: made as a small
 * integer directly, where napi_create_int64 goes through a double. */
napi_value int_result(napi_env env, int64_t value) {
  napi_value out;
  if (value >= INT32_MIN && value <= INT32_MAX) napi_create_int32(env, (int32_t)value, &out);
  else napi_create_int64(env, value, &out);
  return out;
}

/* Reads an int32 argument; *ok turns false when it is not a number. */
static int32_t arg_i32(napi_env env, napi_value v, int *ok) {
  int32_t x = 0;
  if (napi_get_value_int32(env, v, &x) != napi_ok) *ok = 0;
  return x;
}

static uint32_t arg_u32(napi_env env, napi_value v, int *ok) {
  uint32_t x = 0;
  if (napi_get_value_uint32(env, v, &x) != napi_ok) *ok = 0;
  return x;
}

/* The bytes of a Uint8Array; 0 if `value` is none, or its buffer is detached
 * (which Node-API reports as empty, so a write would send nothing in its
 * place). Runs no JS: the pointer stays valid until JS runs again, which may
 * detach the buffer and free its memory. */
static int arg_view(napi_env env, napi_value value, uint8_t **data, size_t *size) {
  napi_typedarray_type type;
  void *base;
  napi_value buffer;
  bool detached = true;
  if (napi_get_typedarray_info(env, value, &type, size, &base, &buffer, NULL) != napi_ok ||
      type != napi_uint8_array || napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached)
    return 0;
  *data = base;
  return 1;
}

/* A byte range [offset, offset + length) of a Uint8Array argument. */
static int arg_bytes(napi_env env, napi_value array, napi_value offset, napi_value length,
                     uint8_t **data, size_t *size) {
  size_t count;
  uint8_t *base;
  if (!arg_view(env, array, &base, &count)) return 0;
  int ok = 1;
  int64_t off = arg_i32(env, offset, &ok), len = arg_i32(env, length, &ok);
  if (!ok || off < 0 || len < 0 || (size_t)(off + len) > count) return 0;
  *data = base + off;
  *size = (size_t)len;
  return 1;
}

static char *arg_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok || len + 1 >= size)
    return NULL;
  return buf;
}

addon_state *state_of(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

static loop_slot *slot_of(napi_env env, napi_value id_value) {
  addon_state *st = state_of(env);
  int ok = 1;
  int32_t id = arg_i32(env, id_value, &ok);
  if (!ok || id < 0 || id >= st->capacity || st->slots[id].backend == NULL) return NULL;
  return &st->slots[id];
}

/* -------- backends -------------------------------------------------------- */

/* backendCreate(name, memory: ArrayBuffer, eventsOffset, maxEvents) -> id | -errno */
static napi_value backend_create(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  char name[32];
  const wl_backend_ops *ops =
      arg_string(env, argv[0], name, sizeof name) ? wl_backend_find(name) : NULL;
  void *base;
  size_t bytes;
  int ok = 1;
  uint32_t offset = arg_u32(env, argv[2], &ok);
  int32_t max_events = arg_i32(env, argv[3], &ok);
  if (ops == NULL || !ok || max_events < 1 ||
      napi_get_arraybuffer_info(env, argv[1], &base, &bytes) != napi_ok ||
      offset % 4 != 0 || (uint64_t)offset + (uint64_t)max_events * sizeof(struct epoll_event) > bytes)
    return int_result(env, -EINVAL);

  addon_state *st = state_of(env);
  int id = 0;
  while (id < st->capacity && st->slots[id].backend != NULL) id++;
  if (id == st->capacity) {
    int capacity = st->capacity ? st->capacity * 2 : 8;
    loop_slot *grown = realloc(st->slots, (size_t)capacity * sizeof *grown);
    if (grown == NULL) return int_result(env, -ENOMEM);
    memset(grown + st->capacity, 0, (size_t)(capacity - st->capacity) * sizeof *grown);
    st->slots = grown;
    st->capacity = capacity;
  }
  loop_slot *slot = &st->slots[id];
  int rc = ops->create(&slot->backend);
  if (rc < 0) {
    slot->backend = NULL;
    return int_result(env, rc);
  }
  slot->events = (struct epoll_event *)((uint8_t *)base + offset);
  slot->max_events = max_events;
  napi_create_reference(env, argv[1], 1, &slot->memory);
  return int_result(env, id);
}

/* The event's data carries the fd and the registration's generation, so the
 * core can tell an event for this registration from one for an earlier use of
 * the same fd number. */
static uint64_t event_data(int32_t fd, uint32_t generation) {
  return ((uint64_t)generation << 32) | (uint32_t)fd;
}

/* backendAdd(id, fd, events, generation) / backendModify(...) -> 0 | -errno */
static napi_value control(napi_env env, napi_callback_info info, int modify) {
  GET_ARGS(4);
  loop_slot *slot = slot_of(env, argv[0]);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[1], &ok);
  uint32_t events = arg_u32(env, argv[2], &ok);
  uint32_t generation = arg_u32(env, argv[3], &ok);
  if (slot == NULL || !ok) return int_result(env, -EINVAL);
  const wl_backend_ops *ops = slot->backend->ops;
  uint64_t data = event_data(fd, generation);
  return int_result(env, modify ? ops->modify(slot->backend, fd, events, data)
                                : ops->add(slot->backend, fd, events, data));
}

static napi_value backend_add(napi_env env, napi_callback_info info) {
  return control(env, info, 0);
}

static napi_value backend_modify(napi_env env, napi_callback_info info) {
  return control(env, info, 1);
}

/* The (id, int) arguments of backendRemove and backendWait; NULL if malformed. */
static loop_slot *slot_and_int(napi_env env, napi_callback_info info, int32_t *value) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return NULL;
  int ok = 1;
  *value = arg_i32(env, argv[1], &ok);
  return ok ? slot_of(env, argv[0]) : NULL;
}

/* backendRemove(id, fd) -> 0 | -errno */
static napi_value backend_remove(napi_env env, napi_callback_info info) {
  int32_t fd;
  loop_slot *slot = slot_and_int(env, info, &fd);
  if (slot == NULL) return int_result(env, -EINVAL);
  return int_result(env, slot->backend->ops->remove(slot->backend, fd));
}

/* backendWait(id, timeoutMs) -> events written | -errno. The hot call.
 * timeoutMs may have a fraction (a timer's deadline to the microsecond);
 * a negative one waits forever. */
static napi_value backend_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double timeout_ms;
  if (argc < 2 || napi_get_value_double(env, argv[1], &timeout_ms) != napi_ok || timeout_ms != timeout_ms)
    return int_result(env, -EINVAL);
  loop_slot *slot = slot_of(env, argv[0]);
  if (slot == NULL) return int_result(env, -EINVAL);
  /* Past ~292 years a wait is as good as forever. */
  int64_t timeout_ns = timeout_ms < 0 || timeout_ms > 9.2e12 ? -1 : (int64_t)(timeout_ms * 1e6 + 0.999);
  int count = slot->backend->ops->wait(slot->backend, slot->events, slot->max_events, timeout_ns);
  run_after_wait(state_of(env));
  return int_result(env, count);
}

static int release_slot(napi_env env, loop_slot *slot) {
  int rc = slot->backend->ops->free(slot->backend);
  slot->backend = NULL;
  slot->events = NULL;
  if (env != NULL) napi_delete_reference(env, slot->memory);
  slot->memory = NULL;
  return rc;
}

/* backendFree(id) -> 0 | -errno */
static napi_value backend_free(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  loop_slot *slot = slot_of(env, argv[0]);
  if (slot == NULL) return int_result(env, -EINVAL);
  return int_result(env, release_slot(env, slot));
}

/* backendFd(id) -> the fd that turns readable when the backend has events |
 * -ENOTSUP (poll, select: the interest set is ours, the kernel has no object). */
static napi_value backend_fd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  loop_slot *slot = slot_of(env, argv[0]);
  if (slot == NULL) return int_result(env, -EINVAL);
  return int_result(env, slot->backend->ops->fd(slot->backend));
}

/* -------- sockets --------------------------------------------------------- */

/* listen(host, port, backlog, flags) -> fd | -errno */
static napi_value sock_listen(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  char host[64];
  int ok = 1;
  int32_t port = arg_i32(env, argv[1], &ok), backlog = arg_i32(env, argv[2], &ok),
          flags = arg_i32(env, argv[3], &ok);
  if (!ok || arg_string(env, argv[0], host, sizeof host) == NULL) return int_result(env, -EINVAL);
  return int_result(env, wl_listen(host, port, backlog, flags));
}

/* listenUnix(path, backlog) -> fd | -errno. The buffer holds any path
 * sun_path can (108 bytes) and more, so an over-long one reaches
 * wl_listen_unix and is answered -ENAMETOOLONG, not -EINVAL. */
static napi_value sock_listen_unix(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char path[256];
  int ok = 1;
  int32_t backlog = arg_i32(env, argv[1], &ok);
  napi_valuetype type;
  if (!ok || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_string)
    return int_result(env, -EINVAL);
  if (arg_string(env, argv[0], path, sizeof path) == NULL) return int_result(env, -ENAMETOOLONG);
  return int_result(env, wl_listen_unix(path, backlog));
}

/* connect(host, port) -> fd | -errno; the connection completes asynchronously. */
static napi_value sock_connect(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  char host[64];
  int ok = 1;
  int32_t port = arg_i32(env, argv[1], &ok);
  if (!ok || arg_string(env, argv[0], host, sizeof host) == NULL) return int_result(env, -EINVAL);
  return int_result(env, wl_connect(host, port));
}

/* connectUnix(path) -> fd | -errno; the outcome is read as for connect(). */
static napi_value sock_connect_unix(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  /* Longer than any sun_path: wl_connect_unix names what is too long. */
  char path[256];
  if (arg_string(env, argv[0], path, sizeof path) == NULL) return int_result(env, -ENAMETOOLONG);
  return int_result(env, wl_connect_unix(path));
}

/* address(fd, peer) -> [address, port, family] | -errno; family is the
 * AF_* number, and an AF_UNIX socket's address is the empty string. Read
 * once per connection, on first use: the array is fine. */
static napi_value sock_address(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok), peer = arg_i32(env, argv[1], &ok);
  if (!ok) return int_result(env, -EINVAL);
  char text[64]; /* INET6_ADDRSTRLEN is 46 */
  int port = 0;
  int family = wl_address(fd, peer, text, sizeof text, &port);
  if (family < 0) return int_result(env, family);
  napi_value triple, address;
  napi_create_array_with_length(env, 3, &triple);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_set_element(env, triple, 0, address);
  napi_set_element(env, triple, 1, int_result(env, port));
  napi_set_element(env, triple, 2, int_result(env, family));
  return triple;
}

/* setKeepAlive(fd, on, idleSeconds) -> 0 | -errno */
static napi_value sock_set_keepalive(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok), on = arg_i32(env, argv[1], &ok), idle = arg_i32(env, argv[2], &ok);
  if (!ok || idle < 0) return int_result(env, -EINVAL);
  return int_result(env, wl_set_keepalive(fd, on != 0, idle));
}

/* tcpOptions(fd) -> [noDelay, keepAlive, keepIdleSeconds] | -errno */
static napi_value sock_tcp_options(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok);
  if (!ok) return int_result(env, -EINVAL);
  int values[3];
  int rc = wl_tcp_options(fd, values);
  if (rc < 0) return int_result(env, rc);
  napi_value triple;
  napi_create_array_with_length(env, 3, &triple);
  for (uint32_t i = 0; i < 3; i++) napi_set_element(env, triple, i, int_result(env, values[i]));
  return triple;
}

/* read(fd, bytes, offset, length) / write(...) -> count | -errno */
static napi_value transfer(napi_env env, napi_callback_info info, int writing) {
  GET_ARGS(4);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok);
  uint8_t *data;
  size_t size;
  if (!ok || !arg_bytes(env, argv[1], argv[2], argv[3], &data, &size))
    return int_result(env, -EINVAL);
  return int_result(env, writing ? wl_write(fd, data, size) : wl_read(fd, data, size));
}

static napi_value sock_read(napi_env env, napi_callback_info info) {
  return transfer(env, info, 0);
}

static napi_value sock_write(napi_env env, napi_callback_info info) {
  return transfer(env, info, 1);
}

/* readMany(buffer: ArrayBuffer, count, dataOffset, slotSize) -> count | -EINVAL.
 * The buffer's first `count` int32s are the plan: each holds a socket fd and
 * receives its read's result (wl_read_many, packed from dataOffset on: read
 * i's bytes begin where the positive results before it end). A batch's
 * reads in one crossing, with one ArrayBuffer looked at where a read per
 * socket marshals a typed array each. */
static napi_value sock_read_many(napi_env env, napi_callback_info info) {
  GET_ARGS(4);
  int ok = 1;
  int32_t count = arg_i32(env, argv[1], &ok), data_offset = arg_i32(env, argv[2], &ok),
          slot = arg_i32(env, argv[3], &ok);
  void *base;
  size_t bytes;
  bool detached = true;
  if (!ok || count < 0 || slot < 1 || data_offset < 0 || data_offset % 4 != 0 ||
      (uint64_t)count * sizeof(int32_t) > (uint64_t)data_offset ||
      napi_get_arraybuffer_info(env, argv[0], &base, &bytes) != napi_ok ||
      napi_is_detached_arraybuffer(env, argv[0], &detached) != napi_ok || detached ||
      (uint64_t)data_offset + (uint64_t)count * (uint64_t)slot > bytes)
    return int_result(env, -EINVAL);
  wl_read_many(base, count, (uint8_t *)base + data_offset, (size_t)slot);
  return int_result(env, count);
}

/* writeMany(buffer: ArrayBuffer, count, dataOffset) -> count | -EINVAL.
 * The buffer's first `count` pairs of int32s are the plan: an fd (negative:
 * skipped) and a length, which receives the write's result (wl_write_many);
 * the bytes are packed from dataOffset on, each entry's after the last
 * one's. The lengths are checked against the buffer before anything is
 * written: a bad plan writes nothing. */
static napi_value sock_write_many(napi_env env, napi_callback_info info) {
  GET_ARGS(3);
  int ok = 1;
  int32_t count = arg_i32(env, argv[1], &ok), data_offset = arg_i32(env, argv[2], &ok);
  void *base;
  size_t bytes;
  bool detached = true;
  if (!ok || count < 0 || data_offset < 0 || data_offset % 4 != 0 ||
      (uint64_t)count * 2 * sizeof(int32_t) > (uint64_t)data_offset ||
      napi_get_arraybuffer_info(env, argv[0], &base, &bytes) != napi_ok ||
      napi_is_detached_arraybuffer(env, argv[0], &detached) != napi_ok || detached ||
      (uint64_t)data_offset > bytes)
    return int_result(env, -EINVAL);
  int32_t *plan = base;
  uint64_t total = 0;
  for (int32_t i = 0; i < count; i++) {
    if (plan[2 * i + 1] < 0) return int_result(env, -EINVAL);
    total += (uint64_t)plan[2 * i + 1];
  }
  if ((uint64_t)data_offset + total > bytes) return int_result(env, -EINVAL);
  wl_write_many(plan, count, (const uint8_t *)base + data_offset);
  return int_result(env, count);
}

/* One writev takes at most this many buffers (the kernel allows 1024): the
 * iovec array stays small on the stack, and the caller loops anyway, since a
 * writev may be partial. */
#define WRITEV_MAX 64

/* writev(fd, Uint8Array[]) -> count | -errno.
 * Fetching an element may run JS (an accessor, a getter on the prototype),
 * and that JS may detach a buffer fetched before, freeing the memory behind
 * a pointer already taken. So every element is fetched first, and only then
 * are the pointers taken, with no JS between them and the system call. */
static napi_value sock_writev(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok);
  uint32_t count = 0;
  if (!ok || napi_get_array_length(env, argv[1], &count) != napi_ok)
    return int_result(env, -EINVAL);
  if (count > WRITEV_MAX) count = WRITEV_MAX;
  napi_value elements[WRITEV_MAX];
  for (uint32_t i = 0; i < count; i++)
    if (napi_get_element(env, argv[1], i, &elements[i]) != napi_ok) return int_result(env, -EINVAL);
  struct iovec iov[WRITEV_MAX];
  for (uint32_t i = 0; i < count; i++) {
    uint8_t *data;
    if (!arg_view(env, elements[i], &data, &iov[i].iov_len)) return int_result(env, -EINVAL);
    iov[i].iov_base = data;
  }
  return int_result(env, wl_writev(fd, iov, (int)count));
}

#define FD_CALL(js_name, c_call)                                              \
  static napi_value js_name(napi_env env, napi_callback_info info) {           \
    GET_ARGS(1);                                                               \
    int ok = 1;                                                                \
    int32_t fd = arg_i32(env, argv[0], &ok);                                   \
    if (!ok) return int_result(env, -EINVAL);                                  \
    return int_result(env, c_call(fd));                                        \
  }

/* Calls taking an fd and one more int: accept(fd, flags), shutdown(fd, how). */
#define FD_INT_CALL(js_name, c_call)                                          \
  static napi_value js_name(napi_env env, napi_callback_info info) {           \
    GET_ARGS(2);                                                               \
    int ok = 1;                                                                \
    int32_t fd = arg_i32(env, argv[0], &ok), arg = arg_i32(env, argv[1], &ok); \
    if (!ok) return int_result(env, -EINVAL);                                  \
    return int_result(env, c_call(fd, arg));                                   \
  }

FD_CALL(sock_close, wl_close)
FD_CALL(sock_error, wl_socket_error)
FD_CALL(sock_local_port, wl_local_port)
FD_INT_CALL(sock_accept, wl_accept)
FD_INT_CALL(sock_shutdown, wl_shutdown)
FD_INT_CALL(sock_set_nodelay, wl_set_nodelay)
FD_INT_CALL(fd_dup, wl_dup_fd)

/* fdLimit() -> the soft RLIMIT_NOFILE | -errno. */
static napi_value fd_limit(napi_env env, napi_callback_info info) {
  (void)info;
  return int_result(env, wl_fd_limit());
}

/* -------- other pollable fds ---------------------------------------------- */

/* pipe() -> [readFd, writeFd] | -errno. Not a hot path: the array is fine. */
static napi_value fd_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  int rc = wl_pipe(fds);
  if (rc < 0) return int_result(env, rc);
  napi_value pair;
  napi_create_array_with_length(env, 2, &pair);
  napi_set_element(env, pair, 0, int_result(env, fds[0]));
  napi_set_element(env, pair, 1, int_result(env, fds[1]));
  return pair;
}

/* The integers a double holds exactly: eventfd counts cross as JS numbers. */
#define MAX_EXACT_COUNT 9007199254740992.0 /* 2^53 */

/* eventfdWrite(fd, n) -> 0 | -errno; n an integer in [0, 2^53]. */
static napi_value fd_eventfd_write(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok);
  double n = -1;
  if (!ok || napi_get_value_double(env, argv[1], &n) != napi_ok || !(n >= 0) ||
      n > MAX_EXACT_COUNT || (double)(uint64_t)n != n)
    return int_result(env, -EINVAL);
  return int_result(env, wl_eventfd_write(fd, (uint64_t)n));
}

/* eventfdRead(fd) / timerfdRead(fd) -> count (> 0) | -errno (-EAGAIN: zero).
 * A count above 2^53 comes back rounded, as any JS number would. */
static napi_value fd_read_counter(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int ok = 1;
  int32_t fd = arg_i32(env, argv[0], &ok);
  if (!ok) return int_result(env, -EINVAL);
  uint64_t value;
  int rc = wl_read_counter(fd, &value);
  if (rc < 0) return int_result(env, rc);
  napi_value out;
  napi_create_double(env, (double)value, &out);
  return out;
}

/* eventfd(initial) -> fd | -errno */
static napi_value fd_eventfd(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  int ok = 1;
  int32_t initial = arg_i32(env, argv[0], &ok);
  if (!ok || initial < 0) return int_result(env, -EINVAL);
  return int_result(env, wl_eventfd((unsigned)initial));
}

/* timerfd(ms, intervalMs) -> fd | -errno; ms 0 fires at once, intervalMs 0 once only. */
static napi_value fd_timerfd(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int ok = 1;
  int32_t ms = arg_i32(env, argv[0], &ok), interval = arg_i32(env, argv[1], &ok);
  if (!ok || ms < 0 || interval < 0) return int_result(env, -EINVAL);
  return int_result(env, wl_timerfd((uint32_t)ms, (uint32_t)interval));
}

/* -------- module ---------------------------------------------------------- */

static void free_state(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_state *st = data;
  /* The environment is going away (worker exit, process exit): release every
   * loop the host did not close, so no epoll fd outlives its thread. */
  for (int i = 0; i < st->capacity; i++)
    if (st->slots[i].backend != NULL) release_slot(NULL, &st->slots[i]);
  /* run() handles still attached are released by their own async cleanup
   * hook, which Node runs before this, while the loop can still close
   * handles. */
  free(st->slots);
  free(st);
}

static void set_int(napi_env env, napi_value exports, const char *name, int32_t value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  napi_set_named_property(env, exports, name, v);
}

static void set_uint(napi_env env, napi_value exports, const char *name, uint32_t value) {
  napi_value v;
  napi_create_uint32(env, value, &v);
  napi_set_named_property(env, exports, name, v);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  addon_state *st = calloc(1, sizeof *st);
  if (st == NULL || napi_set_instance_data(env, st, free_state, NULL) != napi_ok) return NULL;

  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"backendCreate", backend_create},   {"backendAdd", backend_add},
      {"backendModify", backend_modify},   {"backendRemove", backend_remove},
      {"backendWait", backend_wait},       {"backendFree", backend_free},
      {"backendFd", backend_fd},
      {"invoke", node_invoke},          {"uncaught", node_uncaught},
      {"runAttach", run_attach},           {"runDetach", run_detach},
      {"runRef", run_ref},                 {"runNodeFd", run_node_fd},
      {"runNodeTimeout", run_node_timeout},
      {"startAttach", start_attach},       {"startArm", start_arm},
      {"startRef", start_ref},             {"startDetach", start_detach},
      {"listen", sock_listen},             {"connect", sock_connect},
      {"listenUnix", sock_listen_unix},
      {"accept", sock_accept},             {"read", sock_read},
      {"write", sock_write},               {"writev", sock_writev},
      {"readMany", sock_read_many},
      {"writeMany", sock_write_many},
      {"shutdown", sock_shutdown},         {"close", sock_close},
      {"socketError", sock_error},         {"localPort", sock_local_port},
      {"pipe", fd_pipe},                   {"eventfd", fd_eventfd},
      {"eventfdWrite", fd_eventfd_write},  {"eventfdRead", fd_read_counter},
      {"timerfd", fd_timerfd},             {"timerfdRead", fd_read_counter},
      {"dupFd", fd_dup},                   {"fdLimit", fd_limit},
      {"connectUnix", sock_connect_unix},  {"address", sock_address},
      {"setNoDelay", sock_set_nodelay},    {"setKeepAlive", sock_set_keepalive},
      {"tcpOptions", sock_tcp_options},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, functions[i].name, fn);
  }
  /* The record format the core reads: the kernel's, which is packed on
   * x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes). */
  set_int(env, exports, "EVENT_SIZE", (int32_t)sizeof(struct epoll_event));
  set_int(env, exports, "EVENT_DATA_OFFSET", (int32_t)offsetof(struct epoll_event, data));
  set_int(env, exports, "LISTEN_REUSEPORT", WL_LISTEN_REUSEPORT);
  set_int(env, exports, "ACCEPT_NODELAY", WL_ACCEPT_NODELAY);
  set_int(env, exports, "WRITEV_MAX", WRITEV_MAX);
  set_int(env, exports, "FD_SETSIZE", FD_SETSIZE);
  /* The families address() reports. */
  set_int(env, exports, "AF_INET", AF_INET);
  set_int(env, exports, "AF_INET6", AF_INET6);
  /* The kernel's event bits, from <sys/epoll.h>. The core defines its own
   * copy (assembly/events.ts) for every backend to report in; a test holds
   * the two equal. EPOLLET is bit 31, hence unsigned. */
  set_uint(env, exports, "EPOLLIN", EPOLLIN);
  set_uint(env, exports, "EPOLLOUT", EPOLLOUT);
  set_uint(env, exports, "EPOLLERR", EPOLLERR);
  set_uint(env, exports, "EPOLLHUP", EPOLLHUP);
  set_uint(env, exports, "EPOLLRDHUP", EPOLLRDHUP);
  set_uint(env, exports, "EPOLLONESHOT", EPOLLONESHOT);
  set_uint(env, exports, "EPOLLET", EPOLLET);
  return exports;
}
