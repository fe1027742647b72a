{
  "targets": [
    {
      "target_name": "multiproc",
      "sources": ["native/multiproc.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
