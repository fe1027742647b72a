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
#include "sync.h"
#include "waiter.h"
#include "shm.h"
#include "room.h"
#include <stddef.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <poll.h>
#include <time.h>
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

#define MAX_ARGS 8

static int32_t arg_int(napi_env env, napi_callback_info info, size_t index, int *ok) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  int32_t value = 0;
  *ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  /* argc comes back as the number of arguments passed, which may be more than argv holds. */
  if (index >= argc || index >= MAX_ARGS) return 0;
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

static double arg_double(napi_env env, napi_callback_info info, size_t index, int *ok) {
  size_t argc = MAX_ARGS;
  napi_value argv[MAX_ARGS];
  double value = 0;
  *ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || index >= argc || index >= MAX_ARGS) return 0;
  if (napi_get_value_double(env, argv[index], &value) != napi_ok) return 0;
  *ok = 1;
  return value;
}

#define INT_ARG(name, index)                                   \
  int ok_##name;                                               \
  int32_t name = arg_int(env, info, index, &ok_##name);        \
  if (!ok_##name) {                                            \
    napi_throw_type_error(env, NULL, "expected an integer argument"); \
    return NULL;                                               \
  }

#define DOUBLE_ARG(name, index)                                \
  int ok_##name;                                               \
  double name = arg_double(env, info, index, &ok_##name);      \
  if (!ok_##name) {                                            \
    napi_throw_type_error(env, NULL, "expected a number argument"); \
    return NULL;                                               \
  }

/*
 * segmentCreate(size, reserve): id, or -errno (ENOSPC when the memory for it cannot be reserved).
 * reserve > size: map that much, for a segment that will grow.
 */
static napi_value segment_create(napi_env env, napi_callback_info info) {
  DOUBLE_ARG(size, 0);
  DOUBLE_ARG(reserve, 1);
  if (size <= 0 || reserve < 0) return make_int(env, -EINVAL);
  return make_int(env, mp_segment_create((size_t)size, (size_t)reserve));
}

/*
 * segmentOpen(pid, fd, inode, populate, reserve): map the segment another process (or this one) holds
 * as `fd`; id or -errno. populate: fill the page tables of a large one now (a shared array is used
 * whole). reserve: map at least that much, for a segment that will grow.
 */
static napi_value segment_open(napi_env env, napi_callback_info info) {
  INT_ARG(pid, 0);
  INT_ARG(fd, 1);
  DOUBLE_ARG(inode, 2);
  INT_ARG(populate, 3);
  DOUBLE_ARG(reserve, 4);
  if (reserve < 0) return make_int(env, -EINVAL);
  return make_int(env, mp_segment_open(pid, fd, inode, populate, (size_t)reserve));
}

/* segmentInode(id): the segment's inode number, which names it whatever descriptor holds it. */
static napi_value segment_inode(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  napi_value out;
  napi_create_double(env, mp_segment_inode(id), &out);
  return out;
}

/*
 * What a segment buffer holds: one reference on the segment, given back
 * either by segmentClose (at once) or when the buffer is collected, never
 * both. The buffer carries it as a wrap, so that segmentClose finds it.
 */
typedef struct {
  int id;
  int released;
} buffer_hold_t;

static void release_buffer(napi_env env, void *data, void *hint) {
  buffer_hold_t *hold = hint;
  if (!hold->released) mp_segment_release(hold->id);
  free(hold);
}

/*
 * segmentBuffer(id, length): an ArrayBuffer over the first `length` bytes of
 * the segment's mapping (0: all of it); it keeps the mapping alive. V8 counts
 * a buffer's whole length as memory, and a count far above its limit forces
 * a full GC on the spot: a growing segment (a channel maps 2 GiB of address
 * space) is therefore seen through a window the size of its file, made
 * larger as the file grows.
 */
static napi_value segment_buffer(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  DOUBLE_ARG(length, 1);
  int fd;
  size_t size;
  uint8_t *base;
  if (mp_segment_info(id, &fd, &size, &base) != 0 || mp_segment_retain(id) != 0) {
    napi_throw_range_error(env, NULL, "no such segment");
    return NULL;
  }
  if (length > 0 && length < (double)size) size = (size_t)length;
  buffer_hold_t *hold = malloc(sizeof *hold);
  if (!hold) {
    mp_segment_release(id);
    napi_throw_error(env, NULL, "multiproc native: out of memory");
    return NULL;
  }
  *hold = (buffer_hold_t){id, 0};
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, base, size, release_buffer, hold, &buffer) != napi_ok) {
    free(hold);
    mp_segment_release(id);
    napi_throw_error(env, NULL, "multiproc native: cannot create an external ArrayBuffer (a V8 sandbox build?)");
    return NULL;
  }
  if (napi_wrap(env, buffer, hold, NULL, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "multiproc native: cannot tag a segment buffer");
    return NULL;
  }
  return buffer;
}

/*
 * segmentClose(buffer): detach a buffer segmentBuffer made and give back its
 * reference now; with the last one this process holds, the mapping and the
 * descriptor go. A second call, or a buffer of another kind, does nothing.
 */
static napi_value segment_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value buffer;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, &buffer, NULL, NULL) != napi_ok || argc < 1 || napi_is_arraybuffer(env, buffer, &is_buffer) != napi_ok ||
      !is_buffer) {
    napi_throw_type_error(env, NULL, "segmentClose(buffer: ArrayBuffer)");
    return NULL;
  }
  buffer_hold_t *hold = NULL;
  if (napi_remove_wrap(env, buffer, (void **)&hold) != napi_ok || !hold) return NULL;
  /* Detached first: JavaScript must never reach the pages once they may be unmapped. Detaching may free `hold`. */
  int id = hold->id;
  hold->released = 1;
  napi_detach_arraybuffer(env, buffer);
  mp_segment_release(id);
  return NULL;
}

/* segmentRelease(id): drop the reference segmentCreate/segmentOpen gave. */
static napi_value segment_release(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  mp_segment_release(id);
  return NULL;
}

/* segmentFd(id): the descriptor this process holds the segment by (what other processes open). */
static napi_value segment_fd(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  int fd;
  size_t size;
  uint8_t *base;
  return make_int(env, mp_segment_info(id, &fd, &size, &base) == 0 ? fd : -EBADF);
}

/* segmentGrow(id, from, size): file at least `size` bytes, pages of [from, size) reserved; 0 or -errno. */
static napi_value segment_grow(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  DOUBLE_ARG(from, 1);
  DOUBLE_ARG(size, 2);
  return make_int(env, mp_segment_grow(id, from, size));
}

/* segmentDiscard(id, offset, length): free those pages (they read as zeros until written); 0 or -errno. */
static napi_value segment_discard(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  DOUBLE_ARG(offset, 1);
  DOUBLE_ARG(length, 2);
  return make_int(env, mp_segment_discard(id, offset, length));
}

/* memoryRoom(path | null): the bytes a shared allocation may still commit (room.c); `path`: also the free space of that filesystem. */
static napi_value memory_room(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  char path[4096];
  size_t length = 0;
  napi_valuetype type = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok) return NULL;
  if (argc >= 1) napi_typeof(env, arg, &type);
  int has_path = type == napi_string && napi_get_value_string_utf8(env, arg, path, sizeof path, &length) == napi_ok;
  napi_value out;
  if (napi_create_double(env, mp_room(-1, has_path ? path : NULL), &out) != napi_ok) return NULL;
  return out;
}

/* futexWait(id, byteOffset, expected, timeoutMs < 0 for none): 0 woken, 1 timed out, 2 value changed; blocks. */
static napi_value futex_wait(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  INT_ARG(offset, 1);
  INT_ARG(expected, 2);
  DOUBLE_ARG(timeout, 3);
  return make_int(env, mp_futex_wait(id, (size_t)offset, (uint32_t)expected, timeout));
}

/* futexWake(id, byteOffset, count): how many waiters were woken. */
static napi_value futex_wake(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  INT_ARG(offset, 1);
  INT_ARG(count, 2);
  return make_int(env, mp_futex_wake(id, (size_t)offset, count));
}

static napi_value thread_id(napi_env env, napi_callback_info info) {
  return make_int(env, mp_thread_id());
}

static void destroy_waiter(void *data) {
  mp_waiter_destroy(data);
}

static mp_waiter_t *waiter_of(napi_env env) {
  mp_waiter_t *w = NULL;
  if (napi_get_instance_data(env, (void **)&w) == napi_ok && w) return w;
  w = mp_waiter_create(env);
  if (!w) return NULL;
  napi_set_instance_data(env, w, NULL, NULL);
  napi_add_env_cleanup_hook(env, destroy_waiter, w);
  return w;
}

/*
 * waitAsync(id, byteOffset, expected, timeoutMs, callback, settleOffset, linger): a request id; callback(result)
 * runs later. settleOffset >= 0: the byte offset of a word decremented when the wait ends; linger: 1 for the
 * only sleeper on the word, which will wait on it again (see mp_waiter_add).
 */
static napi_value wait_async(napi_env env, napi_callback_info info) {
  INT_ARG(id, 0);
  INT_ARG(offset, 1);
  INT_ARG(expected, 2);
  DOUBLE_ARG(timeout, 3);
  INT_ARG(settle_offset, 5);
  INT_ARG(linger, 6);
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  mp_waiter_t *w = waiter_of(env);
  if (!w) return make_int(env, -ENOMEM);
  uint32_t request = 0;
  int r = mp_waiter_add(env, w, id, (size_t)offset, (uint32_t)expected, timeout, (long)settle_offset, linger != 0, argv[4], &request);
  return make_int(env, r < 0 ? r : (int32_t)request);
}

/* cancelWait(request): true if it was still pending (its callback will not run). */
static napi_value cancel_wait(napi_env env, napi_callback_info info) {
  INT_ARG(request, 0);
  mp_waiter_t *w = waiter_of(env);
  napi_value out;
  napi_get_boolean(env, w && mp_waiter_cancel(env, w, (uint32_t)request), &out);
  return out;
}


/*
 * listenSocket(path, host, port, backlog): a listening socket, bound now
 * (Node's listen() binds later, on the event loop; Python's Listener raises
 * EADDRINUSE from its constructor and knows its port at once). `path`: a
 * Unix socket ("\0name": the abstract namespace), else IPv4 `host:port`
 * with SO_REUSEADDR, as Python's Listener. Returns [fd, port, bound IPv4
 * address] ("" for a Unix socket), or -errno
 * (-ENOENT for a host name that does not resolve to IPv4). Node adopts the
 * descriptor with server.listen({ fd }).
 */
static napi_value listen_socket(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return make_int(env, -EINVAL);
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  char host[256];
  size_t path_len = 0, host_len = 0;
  napi_valuetype path_type;
  napi_typeof(env, argv[0], &path_type);
  int is_unix = path_type == napi_string;
  if (is_unix && napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok) return make_int(env, -EINVAL);
  if (is_unix && path_len >= sizeof(((struct sockaddr_un *)0)->sun_path)) return make_int(env, -ENAMETOOLONG);
  if (!is_unix && napi_get_value_string_utf8(env, argv[1], host, sizeof host, &host_len) != napi_ok) return make_int(env, -EINVAL);
  int32_t port = 0, backlog = 0;
  if (napi_get_value_int32(env, argv[2], &port) != napi_ok || napi_get_value_int32(env, argv[3], &backlog) != napi_ok) return make_int(env, -EINVAL);

  int fd;
  char bound[INET_ADDRSTRLEN] = "";
  if (is_unix) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, path_len);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_int(env, -errno);
    /*
     * A path is NUL-terminated. An abstract name ("\0...") is the whole zero-padded sun_path, as libuv
     * (and so Node's net.connect, which our Client uses) names it.
     */
    socklen_t len = path[0] == 0 ? (socklen_t)sizeof addr : (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1);
    if (bind(fd, (struct sockaddr *)&addr, len) != 0 || listen(fd, backlog) != 0) {
      int e = errno;
      close(fd);
      return make_int(env, -e);
    }
  } else {
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, NULL, &hints, &found) != 0 || !found) return make_int(env, -ENOENT);
    struct sockaddr_in addr;
    memcpy(&addr, found->ai_addr, sizeof addr);
    freeaddrinfo(found);
    addr.sin_port = htons((uint16_t)port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_int(env, -errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, backlog) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
      int e = errno;
      close(fd);
      return make_int(env, -e);
    }
    port = ntohs(addr.sin_port);
    inet_ntop(AF_INET, &addr.sin_addr, bound, sizeof bound);
  }
  napi_value out, address;
  if (napi_create_array_with_length(env, 3, &out) != napi_ok || napi_create_string_utf8(env, bound, NAPI_AUTO_LENGTH, &address) != napi_ok) return NULL;
  napi_set_element(env, out, 0, make_int(env, fd));
  napi_set_element(env, out, 1, make_int(env, port));
  napi_set_element(env, out, 2, address);
  return out;
}

/* The (fd, Uint8Array) that socketRead and socketWrite start with: 1, or 0 if they are not that. */
static int socket_and_bytes(napi_env env, const napi_value *argv, int32_t *fd, void **data, size_t *length) {
  napi_typedarray_type type;
  size_t offset = 0;
  napi_value arraybuffer;
  return napi_get_value_int32(env, argv[0], fd) == napi_ok &&
         napi_get_typedarray_info(env, argv[1], &type, length, data, &arraybuffer, &offset) == napi_ok && type == napi_uint8_array;
}

/*
 * Read what a connected socket has, for a caller that waits for an answer
 * with its own thread (a manager's client, or its server watching a client
 * awake): recv without blocking, again and again for `spin_us`
 * microseconds, then poll up to `timeout_ms`. The event loop's wake from
 * epoll costs tens of microseconds on a VM, more than a loopback round
 * trip. Returns the bytes read (> 0), 0 at the end of the stream, or -errno
 * (-EAGAIN: nothing came). libuv's own later read of the socket then finds
 * nothing, which it takes in stride.
 */
static napi_value socket_read(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, spin_us = 0, timeout_ms = 0;
  void *data = NULL;
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !socket_and_bytes(env, argv, &fd, &data, &length) ||
      napi_get_value_int32(env, argv[2], &spin_us) != napi_ok || napi_get_value_int32(env, argv[3], &timeout_ms) != napi_ok) {
    return make_int(env, -EINVAL);
  }
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  struct pollfd watched = {fd, POLLIN, 0};
  for (;;) {
    ssize_t n = recv(fd, data, length, MSG_DONTWAIT);
    if (n >= 0) return make_int(env, (int32_t)n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return make_int(env, -errno);
    /*
     * Watch with poll, not recv: poll reads the socket's state without its
     * lock, which the peer's write into this socket takes too.
     */
    int ready = 0;
    for (;;) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      long spun_us = (now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000;
      if (spun_us >= spin_us) break;
      ready = poll(&watched, 1, 0);
      if (ready != 0) break;
    }
    if (ready == 0) {
      if (timeout_ms <= 0) return make_int(env, -EAGAIN);
      ready = poll(&watched, 1, timeout_ms);
    }
    if (ready < 0 && errno != EINTR) return make_int(env, -errno);
    if (ready == 0) return make_int(env, -EAGAIN);
    /* Readable (or interrupted): one more look, without waiting again. */
    spin_us = 0;
    timeout_ms = 0;
  }
}

/*
 * send(2) the bytes of a Uint8Array to connected socket `fd` without
 * blocking (and without SIGPIPE), for a writer whose stream has nothing
 * queued: Node's stream layer costs microseconds a call. Returns the bytes
 * sent (possibly fewer: the caller queues the rest), or -errno.
 */
static napi_value socket_write(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  void *data = NULL;
  size_t length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || !socket_and_bytes(env, argv, &fd, &data, &length)) {
    return make_int(env, -EINVAL);
  }
  for (;;) {
    ssize_t n = send(fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return make_int(env, (int32_t)n);
    if (errno != EINTR) return make_int(env, -errno);
  }
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"setParentDeathSignal", NULL, set_parent_death_signal, NULL, NULL, NULL, napi_default, NULL},
      {"anonymousFile", NULL, anonymous_file, NULL, NULL, NULL, napi_default, NULL},
      {"pipe", NULL, make_pipe, NULL, NULL, NULL, napi_default, NULL},
      {"listenSocket", NULL, listen_socket, NULL, NULL, NULL, napi_default, NULL},
      {"socketRead", NULL, socket_read, NULL, NULL, NULL, napi_default, NULL},
      {"socketWrite", NULL, socket_write, NULL, NULL, NULL, napi_default, NULL},
      {"segmentCreate", NULL, segment_create, NULL, NULL, NULL, napi_default, NULL},
      {"segmentOpen", NULL, segment_open, NULL, NULL, NULL, napi_default, NULL},
      {"segmentBuffer", NULL, segment_buffer, NULL, NULL, NULL, napi_default, NULL},
      {"segmentClose", NULL, segment_close, NULL, NULL, NULL, napi_default, NULL},
      {"segmentRelease", NULL, segment_release, NULL, NULL, NULL, napi_default, NULL},
      {"segmentFd", NULL, segment_fd, NULL, NULL, NULL, napi_default, NULL},
      {"segmentInode", NULL, segment_inode, NULL, NULL, NULL, napi_default, NULL},
      {"segmentGrow", NULL, segment_grow, NULL, NULL, NULL, napi_default, NULL},
      {"segmentDiscard", NULL, segment_discard, NULL, NULL, NULL, napi_default, NULL},
      {"memoryRoom", NULL, memory_room, NULL, NULL, NULL, napi_default, NULL},
      {"futexWait", NULL, futex_wait, NULL, NULL, NULL, napi_default, NULL},
      {"futexWake", NULL, futex_wake, NULL, NULL, NULL, napi_default, NULL},
      {"threadId", NULL, thread_id, NULL, NULL, NULL, napi_default, NULL},
      {"waitAsync", NULL, wait_async, NULL, NULL, NULL, napi_default, NULL},
      {"cancelWait", NULL, cancel_wait, NULL, NULL, NULL, napi_default, NULL},
      {"shmOpen", NULL, mp_shm_open, NULL, NULL, NULL, napi_default, NULL},
      {"shmClose", NULL, mp_shm_close, NULL, NULL, NULL, napi_default, NULL},
      {"shmUnlink", NULL, mp_shm_unlink, NULL, NULL, NULL, napi_default, NULL},
      {"shmTrackerConnect", NULL, mp_shm_tracker_connect, NULL, NULL, NULL, napi_default, NULL},
      {"shmTrackerRun", NULL, mp_shm_tracker_run, NULL, NULL, NULL, napi_default, NULL},
      {"shmAddonPath", NULL, mp_shm_addon_path, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
