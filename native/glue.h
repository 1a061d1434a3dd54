/* Internal to the Node-API glue (addon.c, node_loop.c): the per-thread
 * state and the argument helpers. Nothing here is policy: the host validates
 * every argument first, and these checks only keep a misuse from touching
 * memory it should not (answering -EINVAL). */
#ifndef WASMLOOP_GLUE_H
#define WASMLOOP_GLUE_H

#include <node_api.h>

#include "wasmloop.h"

typedef struct {
  wl_backend *backend;          /* NULL: the slot is free */
  struct epoll_event *events;   /* inside the wasm memory */
  int max_events;
  napi_ref memory;              /* keeps the ArrayBuffer (and the pointer) alive */
} loop_slot;

typedef struct addon_state_s {
  loop_slot *slots;
  int capacity;
  struct node_pair_s *run; /* run()'s handles on Node's loop while attached (node_loop.c) */
  napi_async_context invoke_context; /* for invoke(): user callbacks in their own scope */
} addon_state;

#define MAX_ARGS 4
#define GET_ARGS(count)                                                        \
  size_t argc = (count);                                                       \
  napi_value argv[MAX_ARGS];                                                   \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);                        \
  if (argc < (count)) return int_result(env, -EINVAL)

napi_value int_result(napi_env env, int64_t value);
addon_state *state_of(napi_env env);

/* node_loop.c: integration with Node's own libuv loop, run() and start(). */
napi_value run_attach(napi_env env, napi_callback_info info);
napi_value run_detach(napi_env env, napi_callback_info info);
napi_value run_ref(napi_env env, napi_callback_info info);
napi_value run_node_fd(napi_env env, napi_callback_info info);
napi_value run_node_timeout(napi_env env, napi_callback_info info);
/* After every wait: while run() is attached, brings libuv's cached clock up to date. */
void run_after_wait(addon_state *st);
napi_value node_invoke(napi_env env, napi_callback_info info);
napi_value node_uncaught(napi_env env, napi_callback_info info);
napi_value start_attach(napi_env env, napi_callback_info info);
napi_value start_arm(napi_env env, napi_callback_info info);
napi_value start_ref(napi_env env, napi_callback_info info);
napi_value start_detach(napi_env env, napi_callback_info info);

#endif
