/* Integration with Node's own libuv loop, for run() and start(). libuv is
 * linked into the node binary: these calls resolve against it (never link
 * -luv). The two modes keep their names all the way up: run_* here are
 * runAttach/runDetach/runRef in the addon and loop.run() in the host;
 * start_* are startAttach/startArm/startRef/startDetach and loop.start(). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

#include "glue.h"

/* -------- a pair of libuv handles, one lifecycle for both modes ----------
 *
 * Each mode puts two handles on Node's loop and calls one JS function from
 * them: run() a prepare and an idle handle, start() a poll and a timer
 * handle. The pair is released once (both handles closed), either by the
 * host or, when the environment (a worker, say) goes away first, by Node's
 * async cleanup hook, after which no N-API call may be made but the hook's
 * removal.
 *
 * Its memory has two owners: libuv, until the last close callback, and for
 * start() the JS external that names it, until its finalizer. The host may
 * still hold that external, and call with it, long after the handles are
 * closed; so the pair is freed when both have let go, and a released pair
 * answers -EINVAL to every call. */

typedef struct node_pair_s {
  union {
    uv_handle_t handle;
    uv_prepare_t prepare; /* run() */
    uv_poll_t poll;       /* start() */
  } a;
  union {
    uv_handle_t handle;
    uv_idle_t idle;   /* run() */
    uv_timer_t timer; /* start() */
  } b;
  int open_handles; /* libuv lets go of the pair when both handles are closed */
  int owners;       /* libuv, and for start() the JS external: freed at zero */
  int closing;      /* released: no more calls, whatever still names the pair */
  int tearing_down; /* the environment is going away: no N-API calls but one */
  addon_state *owner; /* run(): owner->run points here while attached; NULL for start() */
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
} node_pair;

static void pair_disown(node_pair *pair) {
  if (--pair->owners == 0) free(pair);
}

static void pair_closed(uv_handle_t *handle) {
  node_pair *pair = handle->data;
  if (--pair->open_handles > 0) return;
  if (!pair->tearing_down) {
    napi_delete_reference(pair->env, pair->callback);
    napi_async_destroy(pair->env, pair->context);
  }
  /* Lets Node finish tearing the environment down (and unload this addon)
   * only now that libuv holds no callback of ours. */
  napi_remove_async_cleanup_hook(pair->cleanup);
  pair_disown(pair);
}

/* Safe from inside either handle's callback: libuv calls the close callbacks later. */
static void pair_release(node_pair *pair) {
  if (pair->closing) return;
  pair->closing = 1;
  if (pair->owner != NULL && pair->owner->run == pair) pair->owner->run = NULL;
  uv_close(&pair->a.handle, pair_closed); /* stops it too */
  uv_close(&pair->b.handle, pair_closed);
}

static void pair_env_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  node_pair *pair = data;
  pair->tearing_down = 1;
  pair_release(pair);
}

/* Both handles are initialised on the pair's loop: takes the callback, and
 * releases the pair with the environment. */
static void pair_attach(node_pair *pair, napi_env env, napi_value callback, const char *name) {
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  pair->env = env;
  pair->open_handles = 2;
  pair->owners = 1;
  pair->a.handle.data = pair;
  pair->b.handle.data = pair;
  napi_create_reference(env, callback, 1, &pair->callback);
  napi_async_init(env, NULL, resource_name, &pair->context);
  napi_add_async_cleanup_hook(env, pair_env_cleanup, pair, &pair->cleanup);
}

static void pair_ref(node_pair *pair, bool ref) {
  if (ref) {
    uv_ref(&pair->a.handle);
    uv_ref(&pair->b.handle);
  } else {
    uv_unref(&pair->a.handle);
    uv_unref(&pair->b.handle);
  }
}

/* Calls the pair's function with `arg` from libuv: outside any callback
 * scope, so each user callback the host runs through invoke() is its own
 * outermost scope, and Node runs process.nextTick callbacks and microtasks
 * after every one of them, as it does after any I/O callback. A scope opened
 * and closed afterwards runs whatever the host itself queued. Returns the
 * function's result as a boolean; an exception is reported as uncaught. */
static bool pair_call(node_pair *pair, napi_value arg) {
  napi_env env = pair->env;
  napi_handle_scope scope;
  napi_value fn, recv, result;
  bool out = false;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, pair->callback, &fn);
  napi_get_global(env, &recv);
  if (napi_call_function(env, recv, fn, 1, &arg, &result) == napi_ok) {
    napi_get_value_bool(env, result, &out);
  } else {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  /* The global as the resource, as invoke's: Node takes the resource from the async context (no object per turn). */
  napi_callback_scope drain;
  if (napi_open_callback_scope(env, recv, pair->context, &drain) == napi_ok) napi_close_callback_scope(env, drain);
  napi_close_handle_scope(env, scope);
  return out;
}

/* -------- run(): the loop blocks where Node would ----------------------------
 *
 * run() blocks in the loop's own wait, yet Node must keep working beside it.
 * The prepare handle runs once per iteration of Node's loop, right before it
 * would block in its own poll. There the host blocks in *our* wait instead
 * (watching libuv's backend fd, so Node's I/O wakes it) for no longer than
 * libuv's next timer, then returns so Node can run the iteration. In a
 * prepare callback libuv's state is settled, which is why the host reads the
 * timeout there: from inside a JS callback it is skewed by the very handle
 * that is running (an immediate's idle handle, a stopped timer). */

static void run_pass(uv_idle_t *handle) { (void)handle; }

/* One turn of the host's loop: callback(first) -> true to go on, false to
 * hand the thread back to Node. */
static bool run_turn(node_pair *pair, bool first) {
  napi_handle_scope scope;
  napi_value arg;
  napi_open_handle_scope(pair->env, &scope);
  napi_get_boolean(pair->env, first, &arg);
  bool again = pair_call(pair, arg);
  napi_close_handle_scope(pair->env, scope);
  return again;
}

static void run_on_prepare(uv_prepare_t *handle) {
  node_pair *pair = handle->data;
  /* Off while the host reads libuv's timeout, so the reading is Node's own. */
  uv_idle_stop(&pair->b.idle);
  for (bool first = true; run_turn(pair, first) && !pair->closing; first = false) {
  }
  if (!pair->closing) {
    /* The host returned because Node has work. Node's poll must not block
     * now: libuv cannot watch the loop's epoll fd (it watches libuv's, and
     * epoll refuses cycles), so a blocking poll here could sleep through
     * ready sockets of ours. An active idle handle makes it poll with a zero
     * timeout, and the next iteration comes straight back here. */
    uv_idle_start(&pair->b.idle, run_pass);
  }
  /* The host may have blocked for a while: without this, libuv would compute
   * its timers from the time the iteration began and run late ones late. */
  uv_update_time(handle->loop);
}

void run_after_wait(addon_state *st) {
  /* Code the host runs after this wait (its callbacks) may start libuv
   * timers, which count from libuv's cached time: it must not be the time
   * before the wait blocked, or such a timer would fire early by that much. */
  if (st->run != NULL) uv_update_time(st->run->a.prepare.loop);
}

/* runAttach(turn) -> 0 | -errno. One run() per thread: -EBUSY if attached. */
napi_value run_attach(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  addon_state *st = state_of(env);
  napi_valuetype type;
  if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function)
    return int_result(env, -EINVAL);
  if (st->run != NULL) return int_result(env, -EBUSY);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  node_pair *pair = calloc(1, sizeof *pair);
  if (pair == NULL) return int_result(env, -ENOMEM);
  uv_prepare_init(loop, &pair->a.prepare);
  uv_idle_init(loop, &pair->b.idle);
  pair_attach(pair, env, argv[0], "wasmloop.run");
  pair->owner = st;
  uv_prepare_start(&pair->a.prepare, run_on_prepare);
  st->run = pair;
  return int_result(env, 0);
}

/* runDetach() -> 0 | -errno. Safe to call from inside a turn. */
napi_value run_detach(napi_env env, napi_callback_info info) {
  (void)info;
  addon_state *st = state_of(env);
  if (st->run == NULL) return int_result(env, -EINVAL);
  pair_release(st->run);
  return int_result(env, 0);
}

/* runRef(ref) -> 0 | -errno: whether run()'s handles keep Node's loop alive. */
napi_value run_ref(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  bool ref = true;
  napi_get_value_bool(env, argv[0], &ref);
  addon_state *st = state_of(env);
  if (st->run == NULL) return int_result(env, -EINVAL);
  pair_ref(st->run, ref);
  return int_result(env, 0);
}

/* runNodeFd() -> libuv's backend fd (its epoll fd) | -errno */
napi_value run_node_fd(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  return int_result(env, uv_backend_fd(loop));
}

/* runNodeTimeout() -> milliseconds until Node's loop needs the thread: -1
 * never, 0 now (it has immediates, pending callbacks or closing handles). */
napi_value run_node_timeout(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  uv_update_time(loop);
  return int_result(env, uv_backend_timeout(loop));
}

/* Arguments invoke() passes without allocating: the host passes one or two. */
#define INVOKE_STACK_ARGS 8

/* invoke(recv, fn, ...args) -> fn's result: a user callback in its own
 * callback scope. Called from a host pass that runs outside any scope
 * (run(), start()), Node runs ticks and microtasks when the scope closes;
 * called from inside one (runOnce() from user code) it is a plain call, and
 * they run when that outer scope ends. What fn throws propagates to the
 * caller (the host reports it as the callback's error); what a tick throws
 * while the scope closes is Node's uncaught exception ('uncaughtException',
 * which also unwinds the async id stack the tick left), as after any of
 * Node's own callbacks: napi_make_callback would hand both to the caller
 * alike, and the tick's async id would stay on the stack. napi_get_cb_info
 * reports the call's real argument count, which may be more than it copied:
 * past the stack array, the arguments are fetched again into one that holds
 * them all. */
napi_value node_invoke(napi_env env, napi_callback_info info) {
  addon_state *st = state_of(env);
  if (st->invoke_context == NULL) {
    napi_value name;
    napi_create_string_utf8(env, "wasmloop.callback", NAPI_AUTO_LENGTH, &name);
    if (napi_async_init(env, NULL, name, &st->invoke_context) != napi_ok) return NULL;
  }
  napi_value stack[INVOKE_STACK_ARGS], *argv = stack, result = NULL;
  size_t argc = INVOKE_STACK_ARGS;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype type = napi_undefined;
  if (argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "invoke(recv, fn, ...args) needs a function");
    return NULL;
  }
  if (argc > INVOKE_STACK_ARGS) {
    argv = malloc(argc * sizeof *argv);
    if (argv == NULL) {
      napi_throw_error(env, "ENOMEM", "invoke: no memory for its arguments");
      return NULL;
    }
    napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  }
  napi_value resource, error = NULL;
  napi_callback_scope scope;
  napi_get_global(env, &resource); /* Node takes the resource from the async context */
  if (napi_open_callback_scope(env, resource, st->invoke_context, &scope) != napi_ok) {
    if (argv != stack) free(argv);
    napi_throw_error(env, "EINVAL", "invoke: no callback scope");
    return NULL;
  }
  if (napi_call_function(env, argv[0], argv[1], argc - 2, argv + 2, &result) != napi_ok) {
    napi_get_and_clear_last_exception(env, &error);
    result = NULL;
  }
  napi_close_callback_scope(env, scope);
  if (argv != stack) free(argv);
  if (error != NULL) napi_throw(env, error);
  return result;
}

/* uncaught(error): hands an error to Node's uncaught-exception handling
 * ('uncaughtException' listeners, or the process ends), as if it had
 * escaped one of Node's own callbacks: for what a tick throws while the host
 * runs Node's tick step itself (process._tickCallback). Node also unwinds
 * the async id stack the tick left, when a listener handled it. */
napi_value node_uncaught(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  napi_fatal_exception(env, argv[0]);
  return NULL;
}

/* -------- start(): the loop inside Node's own loop ------------------------------
 *
 * libuv watches the loop's epoll fd with the poll handle (readable: some
 * registered fd is ready) and wakes it with the timer handle at the wheel's
 * next expiry. Either calls the host, which drains with a zero-timeout wait
 * and dispatches. */

/* Calls the host with what woke it: 0 the fd is readable, 1 the timer ran
 * out, a negative libuv error when the poll failed (libuv has stopped it). */
static void start_wake(node_pair *pair, int status) {
  if (pair->closing) return;
  napi_handle_scope scope;
  napi_value arg;
  napi_open_handle_scope(pair->env, &scope);
  napi_create_int32(pair->env, status, &arg);
  pair_call(pair, arg);
  napi_close_handle_scope(pair->env, scope);
}

static void start_on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  start_wake(handle->data, status < 0 ? status : 0);
}

static void start_on_timer(uv_timer_t *handle) {
  start_wake(handle->data, 1);
}

/* The external is gone: it no longer owns the pair. Makes no N-API call, so
 * it is safe whenever Node runs it, in a GC or as the environment ends. */
static void start_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  pair_disown(data);
}

/* The pair behind a start() handle; NULL once released (the handles may be
 * closed and freed by libuv, but the pair lives while the external does). */
static node_pair *start_of(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  node_pair *pair = data;
  return pair == NULL || pair->closing ? NULL : pair;
}

/* startAttach(fd, wake(status: number)) -> handle | -errno */
napi_value start_attach(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t fd;
  napi_valuetype type;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return int_result(env, -EINVAL);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  node_pair *pair = calloc(1, sizeof *pair);
  if (pair == NULL) return int_result(env, -ENOMEM);
  int rc = uv_poll_init(loop, &pair->a.poll, fd);
  if (rc < 0) {
    free(pair);
    return int_result(env, rc);
  }
  uv_timer_init(loop, &pair->b.timer);
  pair_attach(pair, env, argv[1], "wasmloop.start");
  rc = uv_poll_start(&pair->a.poll, UV_READABLE, start_on_poll);
  napi_value handle;
  if (rc == 0 && napi_create_external(env, pair, start_finalize, NULL, &handle) != napi_ok) rc = -ENOMEM;
  if (rc < 0) {
    pair_release(pair);
    return int_result(env, rc);
  }
  pair->owners++;
  return handle;
}

/* startArm(handle, timeoutMs) -> 0 | -errno: wake after timeoutMs (-1: no timer). */
napi_value start_arm(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  node_pair *pair = start_of(env, argv[0]);
  double timeout;
  if (pair == NULL || napi_get_value_double(env, argv[1], &timeout) != napi_ok) return int_result(env, -EINVAL);
  if (timeout < 0) return int_result(env, uv_timer_stop(&pair->b.timer));
  /* libuv timers count whole milliseconds: round up, never fire early. */
  return int_result(env, uv_timer_start(&pair->b.timer, start_on_timer, (uint64_t)(timeout + 0.999999), 0));
}

/* startRef(handle, ref) -> 0 | -errno */
napi_value start_ref(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  node_pair *pair = start_of(env, argv[0]);
  bool ref = true;
  if (pair == NULL || napi_get_value_bool(env, argv[1], &ref) != napi_ok) return int_result(env, -EINVAL);
  pair_ref(pair, ref);
  return int_result(env, 0);
}

/* startDetach(handle) -> 0 | -errno. Safe from inside the handle's callback. */
napi_value start_detach(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  node_pair *pair = start_of(env, argv[0]);
  if (pair == NULL) return int_result(env, -EINVAL);
  pair_release(pair);
  return int_result(env, 0);
}
