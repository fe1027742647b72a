/*
 * multiproc native core: the part of the library that JavaScript cannot do.
 * Linux specifics stay in this file; the TypeScript side (src/native.ts) only
 * sees small functions taking and returning integers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <node_api.h>
#ifdef __linux__
#include <sys/mman.h>
#include <sys/prctl.h>
#endif

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "multiproc native: " #call " failed"); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value make_int(napi_env env, int32_t v) {
  napi_value out;
  if (napi_create_int32(env, v, &out) != napi_ok) return NULL;
  return out;
}

static int32_t arg_int(napi_env env, napi_callback_info info, size_t index, int *ok) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t value = 0;
  *ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (index >= argc) return 0;
  if (napi_get_value_int32(env, argv[index], &value) != napi_ok) return 0;
  *ok = 1;
  return value;
}

/*
 * Ask the kernel to send `signo` to this process when the thread that
 * started it dies. This is what makes daemon children exit even when their
 * parent is SIGKILLed and their own main thread is busy in a loop.
 * Returns 0, or an errno value; ENOSYS where the OS has no such facility.
 */
static napi_value set_parent_death_signal(napi_env env, napi_callback_info info) {
  int ok;
  int32_t signo = arg_int(env, info, 0, &ok);
  if (!ok) {
    napi_throw_type_error(env, NULL, "setParentDeathSignal(signo: number)");
    return NULL;
  }
#ifdef __linux__
  if (prctl(PR_SET_PDEATHSIG, (unsigned long)signo, 0, 0, 0) != 0) return make_int(env, errno);
  return make_int(env, 0);
#else
  return make_int(env, ENOSYS);
#endif
}

/*
 * An anonymous in-memory file (memfd): nameless, so nothing can leak in
 * /dev/shm, and freed by the kernel when the last descriptor closes.
 * Returns the fd (close-on-exec), or -errno. Off Linux, an unlinked file in
 * $TMPDIR plays the same role.
 */
static napi_value anonymous_file(napi_env env, napi_callback_info info) {
#ifdef __linux__
  int fd = memfd_create("multiproc", MFD_CLOEXEC);
  return make_int(env, fd < 0 ? -errno : fd);
#else
  const char *dir = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/multiproc-XXXXXX", dir && *dir ? dir : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) return make_int(env, -errno);
  unlink(path);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  return make_int(env, fd);
#endif
}

/*
 * A pipe whose ends are both close-on-exec: [readFd, writeFd], or -errno.
 * A pre-started child blocks reading its end until the parent writes the
 * payload; data written to a pipe survives the writer's death.
 */
static napi_value make_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
#ifdef __linux__
  if (pipe2(fds, O_CLOEXEC) != 0) return make_int(env, -errno);
#else
  if (pipe(fds) != 0) return make_int(env, -errno);
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
#endif
  napi_value out;
  if (napi_create_array_with_length(env, 2, &out) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 2; i++) {
    napi_value fd = make_int(env, fds[i]);
    if (!fd || napi_set_element(env, out, i, fd) != napi_ok) return NULL;
  }
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setParentDeathSignal", NULL, set_parent_death_signal, NULL, NULL, NULL, napi_default, NULL},
      {"anonymousFile", NULL, anonymous_file, NULL, NULL, NULL, napi_default, NULL},
      {"pipe", NULL, make_pipe, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
