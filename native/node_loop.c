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

/* One turn of the host's loop: callback(first) -> true to go on, false to
 * hand the thread back to Node. Each turn is its own napi_make_callback, so
 * Node runs process.nextTick callbacks and microtasks after every turn, as it
 * does after any I/O callback: a promise a handler resolves never waits for
 * the next event. Returns false on an exception (reported as uncaught). */
static int hook_turn(node_hook *hook, int first) {
  napi_env env = hook->env;
  napi_handle_scope scope;
  napi_value fn, recv, arg, result;
  bool again = false;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, hook->callback, &fn);
  napi_get_global(env, &recv); /* MakeCallback wants an object receiver */
  napi_get_boolean(env, first, &arg);
  if (napi_make_callback(env, hook->context, recv, fn, 1, &arg, &result) == napi_ok) {
    napi_get_value_bool(env, result, &again);
  } else {
    napi_value error;
    if (napi_get_and_clear_last_exception(env, &error) == napi_ok) napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
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
