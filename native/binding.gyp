{
  "targets": [
    {
      "target_name": "multiproc",
      "sources": ["multiproc.c", "sync.c", "waiter.c", "shm.c", "room.c"],
      "libraries": ["-lpthread"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
