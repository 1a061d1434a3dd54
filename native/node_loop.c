/* Integration with Node's own libuv loop, for run(). libuv is linked into
 * the node binary: these calls resolve against it (never link -luv). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <uv.h>

#include "glue.h"

/*
 * run() blocks in the loop's own wait, yet Node must keep working beside it.
 * The hook is a libuv prepare handle on Node's loop: libuv calls it once per
 * iteration, right before it would block in its own poll. There the host
 * blocks in *our* wait instead (watching libuv's backend fd, so Node's I/O
 * wakes it) for no longer than libuv's next timer, then returns so Node can
 * run the iteration. In a prepare callback libuv's state is settled, which is
 * why the timeout is read there: from inside a JS callback it is skewed by the
 * very handle that is running (an immediate's idle handle, a stopped timer).
 */

typedef struct node_hook_s {
  uv_prepare_t prepare;
  uv_idle_t idle;
  int open_handles; /* freed when both handles are closed */
  int closing;
  int tearing_down; /* the environment is going away: no N-API calls but one */
  addon_state *owner;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
} node_hook;

static void hook_closed(uv_handle_t *handle) {
  node_hook *hook = handle->data;
  if (--hook->open_handles > 0) return;
  if (!hook->tearing_down) {
    napi_delete_reference(hook->env, hook->callback);
    napi_async_destroy(hook->env, hook->context);
  }
  /* Lets Node finish tearing the environment down (and unload this addon)
   * only now that libuv holds no callback of ours. */
  napi_remove_async_cleanup_hook(hook->cleanup);
  free(hook);
}

static void hook_release(node_hook *hook) {
  if (hook->closing) return;
  hook->closing = 1;
  if (hook->owner->hook == hook) hook->owner->hook = NULL;
  uv_prepare_stop(&hook->prepare);
  uv_idle_stop(&hook->idle);
  uv_close((uv_handle_t *)&hook->prepare, hook_closed);
  uv_close((uv_handle_t *)&hook->idle, hook_closed);
}

/* The environment (a worker, say) is going away while run() is active. */
static void hook_env_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  node_hook *hook = data;
  hook->tearing_down = 1;
  hook_release(hook);
}

static void hook_pass(uv_idle_t *handle) { (void)handle; }

/* Calls fn(arg) from libuv: outside any callback scope, so each user callback
 * the host runs through invoke() is its own outermost scope, and Node runs
 * process.nextTick callbacks and microtasks after every one of them, as it
 * does after any I/O callback. A scope opened and closed afterwards runs
 * whatever the host itself queued. Returns fn's result as a boolean; an
 * exception is reported as uncaught. */
static bool call_from_libuv(napi_env env, napi_async_context context, napi_ref callback, napi_value arg) {
  napi_handle_scope scope;
  napi_value fn, recv, result;
  bool out = false;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, callback, &fn);
  napi_get_global(env, &recv);
  if (napi_call_function(env, recv, fn, 1, &arg, &result) == napi_ok) {
    napi_get_value_bool(env, result, &out);
  } else {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_value resource;
  napi_callback_scope drain;
  napi_create_object(env, &resource);
  if (napi_open_callback_scope(env, resource, context, &drain) == napi_ok) napi_close_callback_scope(env, drain);
  napi_close_handle_scope(env, scope);
  return out;
}

/* One turn of the host's loop: callback(first) -> true to go on, false to
 * hand the thread back to Node. */
static int hook_turn(node_hook *hook, int first) {
  napi_handle_scope scope;
  napi_value arg;
  napi_open_handle_scope(hook->env, &scope);
  napi_get_boolean(hook->env, first, &arg);
  int again = call_from_libuv(hook->env, hook->context, hook->callback, arg);
  napi_close_handle_scope(hook->env, scope);
  return again;
}

static void hook_run(uv_prepare_t *handle) {
  node_hook *hook = handle->data;
  /* Off while the host reads libuv's timeout, so the reading is Node's own. */
  uv_idle_stop(&hook->idle);
  for (int first = 1; hook_turn(hook, first) && !hook->closing; first = 0) {
  }
  if (!hook->closing) {
    /* The host returned because Node has work. Node's poll must not block
     * now: libuv cannot watch the loop's epoll fd (it watches libuv's, and
     * epoll refuses cycles), so a blocking poll here could sleep through
     * ready sockets of ours. An active idle handle makes it poll with a zero
     * timeout, and the next iteration comes straight back here. */
    uv_idle_start(&hook->idle, hook_pass);
  }
  /* The host may have blocked for a while: without this, libuv would compute
   * its timers from the time the iteration began and run late ones late. */
  uv_update_time(handle->loop);
}

/* nodeHookStart(callback) -> 0 | -errno. One hook per thread: -EBUSY if on. */
napi_value node_hook_start(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  addon_state *st = state_of(env);
  napi_valuetype type;
  if (napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function)
    return int_result(env, -EINVAL);
  if (st->hook != NULL) return int_result(env, -EBUSY);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  node_hook *hook = calloc(1, sizeof *hook);
  if (hook == NULL) return int_result(env, -ENOMEM);
  napi_value name;
  napi_create_string_utf8(env, "wasmloop.run", NAPI_AUTO_LENGTH, &name);
  hook->env = env;
  hook->owner = st;
  hook->open_handles = 2;
  hook->prepare.data = hook;
  hook->idle.data = hook;
  napi_create_reference(env, argv[0], 1, &hook->callback);
  napi_async_init(env, NULL, name, &hook->context);
  napi_add_async_cleanup_hook(env, hook_env_cleanup, hook, &hook->cleanup);
  uv_prepare_init(loop, &hook->prepare);
  uv_idle_init(loop, &hook->idle);
  uv_prepare_start(&hook->prepare, hook_run);
  st->hook = hook;
  return int_result(env, 0);
}

/* nodeHookStop() -> 0 | -errno. Safe to call from inside the hook. */
napi_value node_hook_stop(napi_env env, napi_callback_info info) {
  (void)info;
  addon_state *st = state_of(env);
  if (st->hook == NULL) return int_result(env, -EINVAL);
  hook_release(st->hook);
  return int_result(env, 0);
}

napi_value node_backend_fd(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  return int_result(env, uv_backend_fd(loop));
}

/* Milliseconds until Node's loop needs the thread: -1 never, 0 now (it has
 * immediates, pending callbacks or closing handles). */
napi_value node_backend_timeout(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  uv_update_time(loop);
  return int_result(env, uv_backend_timeout(loop));
}

/* nodeHookRef(ref) -> 0 | -errno: whether run()'s handles keep Node's loop alive. */
napi_value node_hook_ref(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  bool ref = true;
  napi_get_value_bool(env, argv[0], &ref);
  addon_state *st = state_of(env);
  if (st->hook == NULL) return int_result(env, -EINVAL);
  if (ref) {
    uv_ref((uv_handle_t *)&st->hook->prepare);
    uv_ref((uv_handle_t *)&st->hook->idle);
  } else {
    uv_unref((uv_handle_t *)&st->hook->prepare);
    uv_unref((uv_handle_t *)&st->hook->idle);
  }
  return int_result(env, 0);
}

/* invoke(recv, fn, a, b) -> fn's result: a user callback in its own callback
 * scope. Called from a host pass that runs outside any scope (run(),
 * start()), Node runs ticks and microtasks right after it returns; called
 * from inside one (runOnce() from user code) it is a plain call, and they run
 * when that outer scope ends. An exception propagates to the caller. */
napi_value node_invoke(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], result = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  addon_state *st = state_of(env);
  if (st->invoke_context == NULL) {
    napi_value name;
    napi_create_string_utf8(env, "wasmloop.callback", NAPI_AUTO_LENGTH, &name);
    if (napi_async_init(env, NULL, name, &st->invoke_context) != napi_ok) return NULL;
  }
  napi_make_callback(env, st->invoke_context, argv[0], argv[1], argc - 2, argv + 2, &result);
  return result;
}

/*
 * start(): the loop inside Node's own loop. libuv watches the loop's epoll fd
 * with a uv_poll handle (readable: some registered fd is ready) and a
 * uv_timer handle armed at the wheel's next expiry. Either wakes the host,
 * which drains with a zero-timeout wait and dispatches.
 */
typedef struct {
  uv_poll_t poll;
  uv_timer_t timer;
  int open_handles;
  int closing;
  int tearing_down;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
} embed_handle;

static void embed_closed(uv_handle_t *handle) {
  embed_handle *embed = handle->data;
  if (--embed->open_handles > 0) return;
  if (!embed->tearing_down) {
    napi_delete_reference(embed->env, embed->callback);
    napi_async_destroy(embed->env, embed->context);
  }
  napi_remove_async_cleanup_hook(embed->cleanup);
  free(embed);
}

static void embed_release(embed_handle *embed) {
  if (embed->closing) return;
  embed->closing = 1;
  uv_poll_stop(&embed->poll);
  uv_timer_stop(&embed->timer);
  uv_close((uv_handle_t *)&embed->poll, embed_closed);
  uv_close((uv_handle_t *)&embed->timer, embed_closed);
}

static void embed_env_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;
  embed_handle *embed = data;
  embed->tearing_down = 1;
  embed_release(embed);
}

/* Calls the host with what woke it: 0 the fd is readable, 1 the timer ran
 * out, a negative libuv error when the poll failed (libuv has stopped it). */
static void embed_wake(embed_handle *embed, int status) {
  if (embed->closing) return;
  napi_handle_scope scope;
  napi_value arg;
  napi_open_handle_scope(embed->env, &scope);
  napi_create_int32(embed->env, status, &arg);
  call_from_libuv(embed->env, embed->context, embed->callback, arg);
  napi_close_handle_scope(embed->env, scope);
}

static void embed_on_poll(uv_poll_t *handle, int status, int events) {
  (void)events;
  embed_wake(handle->data, status < 0 ? status : 0);
}

static void embed_on_timer(uv_timer_t *handle) {
  embed_wake(handle->data, 1);
}

static embed_handle *embed_of(napi_env env, napi_value value) {
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  embed_handle *embed = data;
  return embed == NULL || embed->closing ? NULL : embed;
}

/* embedStart(fd, callback(status: number)) -> handle | -errno */
napi_value embed_start(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  int32_t fd;
  napi_valuetype type;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function)
    return int_result(env, -EINVAL);
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return int_result(env, -EINVAL);
  embed_handle *embed = calloc(1, sizeof *embed);
  if (embed == NULL) return int_result(env, -ENOMEM);
  int rc = uv_poll_init(loop, &embed->poll, fd);
  if (rc < 0) {
    free(embed);
    return int_result(env, rc);
  }
  uv_timer_init(loop, &embed->timer);
  embed->env = env;
  embed->open_handles = 2;
  embed->poll.data = embed;
  embed->timer.data = embed;
  napi_value name, handle;
  napi_create_string_utf8(env, "wasmloop.start", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &embed->callback);
  napi_async_init(env, NULL, name, &embed->context);
  napi_add_async_cleanup_hook(env, embed_env_cleanup, embed, &embed->cleanup);
  rc = uv_poll_start(&embed->poll, UV_READABLE, embed_on_poll);
  if (rc < 0) {
    embed_release(embed);
    return int_result(env, rc);
  }
  napi_create_external(env, embed, NULL, NULL, &handle);
  return handle;
}

/* embedArm(handle, timeoutMs) -> 0 | -errno: wake after timeoutMs (-1: no timer). */
napi_value embed_arm(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  embed_handle *embed = embed_of(env, argv[0]);
  double timeout;
  if (embed == NULL || napi_get_value_double(env, argv[1], &timeout) != napi_ok) return int_result(env, -EINVAL);
  if (timeout < 0) return int_result(env, uv_timer_stop(&embed->timer));
  /* libuv timers count whole milliseconds: round up, never fire early. */
  return int_result(env, uv_timer_start(&embed->timer, embed_on_timer, (uint64_t)(timeout + 0.999999), 0));
}

/* embedRef(handle, ref) -> 0 | -errno */
napi_value embed_ref(napi_env env, napi_callback_info info) {
  GET_ARGS(2);
  embed_handle *embed = embed_of(env, argv[0]);
  bool ref = true;
  if (embed == NULL || napi_get_value_bool(env, argv[1], &ref) != napi_ok) return int_result(env, -EINVAL);
  if (ref) {
    uv_ref((uv_handle_t *)&embed->poll);
    uv_ref((uv_handle_t *)&embed->timer);
  } else {
    uv_unref((uv_handle_t *)&embed->poll);
    uv_unref((uv_handle_t *)&embed->timer);
  }
  return int_result(env, 0);
}

/* embedStop(handle) -> 0 | -errno. Safe from inside the handle's callback. */
napi_value embed_stop(napi_env env, napi_callback_info info) {
  GET_ARGS(1);
  embed_handle *embed = embed_of(env, argv[0]);
  if (embed == NULL) return int_result(env, -EINVAL);
  embed_release(embed);
  return int_result(env, 0);
}
