{
  "targets": [
    {
      "target_name": "multiproc",
      "sources": ["native/multiproc.c", "native/sync.c", "native/waiter.c", "native/shm.c", "native/room.c"],
      "libraries": ["-lpthread"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
