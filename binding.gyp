{
  "targets": [
    {
      "target_name": "wasmloop",
      "sources": [
        "native/addon.c",
        "native/backend.c",
        "native/backend_epoll.c",
        "native/backend_poll.c",
        "native/backend_select.c",
        "native/fds.c",
        "native/node_loop.c",
        "native/socket_info.c",
        "native/sockets.c"
      ],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}
