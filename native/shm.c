/*
 * Named shared memory (Python's _posixshmem, plus what its resource tracker
 * gets wrong): POSIX shm_open segments mapped as external ArrayBuffers, and a
 * tracker process that unlinks a segment once no live process uses it.
 *
 * "Uses" is a shared flock. A process that has a segment mapped keeps one
 * descriptor on it with LOCK_SH (its *presence*); the creating process keeps
 * it even after unmapping, until it unlinks the segment or exits, so that a
 * closed segment stays attachable while its creator lives (as in Python).
 * The kernel drops the lock when the process dies, however it dies. The
 * creator tells the tracker (one per user, reached on an
 * abstract unix socket) to watch the segment; twice a second the tracker
 * tries LOCK_EX|LOCK_NB on its own descriptor, and when that succeeds nobody
 * uses the segment any more, so it shm_unlinks the name (if the name still
 * refers to that segment). Attachers never register: a segment some other
 * program created is never unlinked by us (CPython bug gh-82300).
 *
 * Creation makes the segment nameless (O_TMPFILE), gives it its size and
 * its pages (posix_fallocate: a full tmpfs fails here with ENOSPC instead of
 * a SIGBUS later) and its lock, then links it under its name, so nobody sees
 * a half-made segment. An attacher that gets its lock on a segment the
 * tracker unlinked meanwhile (st_nlink == 0) looks the name up again.
 *
 * Errors are returned as -errno, as in sync.c.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <node_api.h>

#include "room.h"
#include "shm.h"

#define NAME_LIMIT 255          /* a name without its leading '/' (NAME_MAX) */
#define SWEEP_MS 500            /* how often the tracker looks for unused segments */
#define HELLO_TIMEOUT_MS 10000  /* how long a client waits for a tracker to accept it */
#define MESSAGE_MAX (NAME_LIMIT + 64)

/* ---------- small helpers ---------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int flock_retry(int fd, int op) {
  while (flock(fd, op) != 0) {
    if (errno != EINTR) return -errno;
  }
  return 0;
}

/* "/name" from a JavaScript string (path holds NAME_LIMIT + 2 bytes); 0 or -errno. */
static int path_arg(napi_env env, napi_value value, char *path) {
  size_t length = 0, copied = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok || length == 0) return -EINVAL;
  if (length > NAME_LIMIT) return -ENAMETOOLONG;
  path[0] = '/';
  if (napi_get_value_string_utf8(env, value, path + 1, NAME_LIMIT + 1, &copied) != napi_ok || copied != length) return -EINVAL;
  if (memchr(path + 1, '/', length) || strlen(path + 1) != length) return -EINVAL;
  return 0;
}

static napi_value make_number(napi_env env, int32_t v) {
  napi_value out;
  if (napi_create_int32(env, v, &out) != napi_ok) return NULL;
  return out;
}

/* ---------- this process's presences and its link to the tracker ---------- */

typedef struct {
  int fd; /* holds LOCK_SH */
  int created; /* kept until unlink or exit, even with nothing mapped */
  int maps;    /* mappings this process has of it */
  dev_t dev;
  ino_t ino;
  char path[NAME_LIMIT + 2];
} presence_t;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static presence_t *presences = NULL;
static int presence_count = 0;
static int presence_capacity = 0;
/* Connected SOCK_SEQPACKET socket to the tracker, or -1. */
static int tracker_fd = -1;

static presence_t *presence_find(dev_t dev, ino_t ino) {
  for (int i = 0; i < presence_count; i++)
    if (presences[i].dev == dev && presences[i].ino == ino) return &presences[i];
  return NULL;
}

static int presence_add(int fd, int created, const struct stat *st, const char *path) {
  if (presence_count == presence_capacity) {
    int capacity = presence_capacity ? presence_capacity * 2 : 16;
    presence_t *grown = realloc(presences, sizeof(presence_t) * (size_t)capacity);
    if (!grown) return -ENOMEM;
    presences = grown;
    presence_capacity = capacity;
  }
  presence_t *p = &presences[presence_count++];
  p->fd = fd;
  p->created = created;
  p->maps = 1;
  p->dev = st->st_dev;
  p->ino = st->st_ino;
  snprintf(p->path, sizeof p->path, "%s", path);
  return 0;
}

/* Forget a presence; closing its descriptor drops this process's lock. */
static void presence_remove(presence_t *p, int close_fd) {
  if (close_fd) close(p->fd);
  *p = presences[--presence_count];
}

/* One mapping of (dev, ino) ended: an attacher lets go with its last one. */
static void presence_unmapped(dev_t dev, ino_t ino) {
  presence_t *p = presence_find(dev, ino);
  if (p && --p->maps <= 0 && !p->created) presence_remove(p, 1);
}

/* Drop presences on segments that were unlinked meanwhile: holding them would only keep their memory. */
static void presence_sweep(void) {
  for (int i = 0; i < presence_count;) {
    struct stat st;
    if (fstat(presences[i].fd, &st) != 0 || st.st_nlink == 0) {
      presence_remove(&presences[i], 1);
      continue;
    }
    i++;
  }
}

static void tracker_disconnect(void) {
  if (tracker_fd >= 0) close(tracker_fd);
  tracker_fd = -1;
}

/* Ask the tracker to watch a segment this process created. 0, or -errno (the link is then closed). */
static int tracker_watch(const presence_t *p) {
  if (tracker_fd < 0) return -ENOTCONN;
  char message[MESSAGE_MAX];
  int length = snprintf(message, sizeof message, "W %llu %llu %s", (unsigned long long)p->dev, (unsigned long long)p->ino, p->path);
  if (send(tracker_fd, message, (size_t)length, MSG_NOSIGNAL) == length) return 0;
  int e = errno;
  tracker_disconnect();
  return -e;
}

/* After (re)connecting: the tracker may be a new one that knows nothing of our segments. */
static int tracker_watch_all(void) {
  for (int i = 0; i < presence_count; i++) {
    struct stat st;
    if (!presences[i].created || fstat(presences[i].fd, &st) != 0 || st.st_nlink == 0) continue;
    int r = tracker_watch(&presences[i]);
    if (r < 0) return r;
  }
  return 0;
}

/* Whether the link still leads to a live tracker (it sends one byte on accept, then nothing). */
static int tracker_alive(void) {
  while (tracker_fd >= 0) {
    struct pollfd p = {tracker_fd, POLLIN | POLLRDHUP, 0};
    int r = poll(&p, 1, 0);
    if (r <= 0) return 1;
    if (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) break;
    char hello;
    ssize_t n = recv(tracker_fd, &hello, 1, MSG_DONTWAIT);
    if (n > 0) continue;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    break;
  }
  tracker_disconnect();
  return 0;
}

static socklen_t tracker_address(struct sockaddr_un *addr) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  const char *name = getenv("MULTIPROC_SHM_TRACKER");
  char fallback[64];
  if (!name || !*name) {
    snprintf(fallback, sizeof fallback, "multiproc-shm-tracker-1-%u", (unsigned)getuid());
    name = fallback;
  }
  /* Abstract namespace (leading NUL): nothing on disk, gone with the last descriptor. */
  size_t length = strnlen(name, sizeof addr->sun_path - 2);
  memcpy(addr->sun_path + 1, name, length);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
}

static int wait_hello(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  double deadline = now_ms() + HELLO_TIMEOUT_MS;
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left <= 0) return -ETIMEDOUT;
    int r = poll(&p, 1, left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) return -ETIMEDOUT;
    char hello;
    ssize_t n = recv(fd, &hello, 1, MSG_DONTWAIT);
    if (n == 1) return 0;
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return -ECONNRESET;
  }
}

/*
 * Connect to the tracker. 0: connected to a running one. > 0: nobody
 * listened, so this process now listens on the address itself and is
 * connected to that socket; the caller must start a tracker process on the
 * returned descriptor and close it. What we send meanwhile waits in the
 * socket's queue, so it survives even our own death.
 */
static int tracker_connect(void) {
  if (tracker_alive()) return 0;
  struct sockaddr_un addr;
  socklen_t length = tracker_address(&addr);
  for (int attempt = 0; attempt < 50; attempt++) {
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    if (connect(s, (struct sockaddr *)&addr, length) == 0) {
      int r = wait_hello(s);
      if (r == 0) {
        tracker_fd = s;
        return tracker_watch_all();
      }
      close(s);
      if (r == -ETIMEDOUT) return r;
      continue; /* that tracker was on its way out: try again */
    }
    int e = errno;
    close(s);
    if (e != ECONNREFUSED) return -e;
    int listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (listener < 0) return -errno;
    if (bind(listener, (struct sockaddr *)&addr, length) != 0) {
      e = errno;
      close(listener);
      if (e == EADDRINUSE) continue; /* another process got there first: connect to it */
      return -e;
    }
    if (listen(listener, 128) != 0 || (s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0) {
      e = errno;
      close(listener);
      return -e;
    }
    if (connect(s, (struct sockaddr *)&addr, length) != 0) {
      e = errno;
      close(s);
      close(listener);
      return -e;
    }
    tracker_fd = s;
    tracker_watch_all();
    return listener;
  }
  return -EAGAIN;
}

napi_value mp_shm_tracker_connect(napi_env env, napi_callback_info info) {
  pthread_mutex_lock(&state_lock);
  int r = tracker_connect();
  pthread_mutex_unlock(&state_lock);
  return make_number(env, r);
}

/* ---------- mappings ---------- */

typedef struct mapping {
  uint8_t *base;
  size_t size;
  int mapped;
  dev_t dev;
  ino_t ino;
  struct mapping *next;
} mapping_t;

static mapping_t *mappings = NULL; /* guarded by state_lock */

static void mapping_finalize(napi_env env, void *data, void *hint) {
  mapping_t *m = hint;
  pthread_mutex_lock(&state_lock);
  for (mapping_t **at = &mappings; *at; at = &(*at)->next) {
    if (*at == m) {
      *at = m->next;
      break;
    }
  }
  if (m->mapped) presence_unmapped(m->dev, m->ino);
  pthread_mutex_unlock(&state_lock);
  if (m->mapped) munmap(m->base, m->size);
  free(m);
}

/* Check there is room (room.c), size the file and reserve its pages (a full tmpfs fails here with ENOSPC, not later with SIGBUS), then map it. */
static int size_and_map(int fd, size_t size, uint8_t **base) {
  if (mp_room_take(fd, (double)size) != 0) return -ENOMEM;
  if (ftruncate(fd, (off_t)size) != 0) return -errno;
  int e;
  while ((e = posix_fallocate(fd, 0, (off_t)size)) == EINTR) {}
  if (e) return -e;
  void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) return -errno;
  *base = mapped;
  return 0;
}

/* Note this process's hold on a segment it created and ask the tracker to watch it. */
static int register_created(int fd, const char *path, struct stat *st, int *tracked) {
  if (fstat(fd, st) != 0) return -errno;
  pthread_mutex_lock(&state_lock);
  int r = presence_add(fd, 1, st, path);
  *tracked = r == 0 && tracker_watch(&presences[presence_count - 1]) == 0;
  pthread_mutex_unlock(&state_lock);
  return r;
}

/*
 * Create: the segment is made nameless (O_TMPFILE in /dev/shm), sized,
 * reserved, mapped and share-locked, and only then linked under its name
 * (linkat fails with EEXIST if the name is taken), so an attacher never sees
 * it half made and a creator killed meanwhile leaves nothing. Then the
 * tracker is told. Where /dev/shm has no O_TMPFILE, create_named() does the
 * same steps in the classic order.
 */
static int create_named(const char *path, size_t size, int *tracked, uint8_t **base, struct stat *st);

static int create_segment(const char *path, size_t size, int *tracked, uint8_t **base, struct stat *st) {
  int fd = open("/dev/shm", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return create_named(path, size, tracked, base, st);
  int r = size_and_map(fd, size, base);
  if (r < 0) {
    close(fd);
    return r;
  }
  flock_retry(fd, LOCK_SH);
  char from[64], to[NAME_LIMIT + 16];
  snprintf(from, sizeof from, "/proc/self/fd/%d", fd);
  snprintf(to, sizeof to, "/dev/shm%s", path);
  if (linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW) != 0) {
    int e = errno;
    munmap(*base, size);
    close(fd);
    if (e == EEXIST || e == ENAMETOOLONG || e == ENOSPC || e == EACCES) return -e;
    return create_named(path, size, tracked, base, st); /* no /proc, say */
  }
  r = register_created(fd, path, st, tracked);
  if (r < 0) {
    unlink(to);
    munmap(*base, size);
    close(fd);
  }
  return r;
}

static int create_named(const char *path, size_t size, int *tracked, uint8_t **base, struct stat *st) {
  int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -errno;
  flock_retry(fd, LOCK_SH);
  /* Registered before sizing, so that a creator killed while it reserves a large segment leaves nothing. */
  int r = register_created(fd, path, st, tracked);
  if (r < 0) {
    shm_unlink(path);
    close(fd);
    return r;
  }
  r = size_and_map(fd, size, base);
  if (r < 0) {
    shm_unlink(path);
    pthread_mutex_lock(&state_lock);
    presence_t *p = presence_find(st->st_dev, st->st_ino);
    if (p) presence_remove(p, 1);
    pthread_mutex_unlock(&state_lock);
  }
  return r;
}

/* Attach: shared lock first, then map what the creator finished. Returns the size, or -errno. */
static int64_t attach_segment(const char *path, uint8_t **base, struct stat *out) {
  int fd = -1;
  struct stat st;
  for (int attempt = 0;; attempt++) {
    fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int r = flock_retry(fd, LOCK_SH);
    if (r < 0) {
      close(fd);
      return r;
    }
    if (fstat(fd, &st) != 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    if (st.st_nlink > 0 && st.st_size > 0) break;
    close(fd);
    /* Unlinked under us (look the name up again), or an empty file: wait a little in case its creator just made it. */
    if (attempt >= 20) return st.st_nlink == 0 ? -ENOENT : -EINVAL;
    if (st.st_nlink > 0) usleep(1000 * (useconds_t)(attempt + 1));
  }
  void *mapped = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (mapped == MAP_FAILED) {
    int e = errno;
    close(fd);
    return -e;
  }
  pthread_mutex_lock(&state_lock);
  presence_t *present = presence_find(st.st_dev, st.st_ino);
  if (present) present->maps++;
  int keep = !present && presence_add(fd, 0, &st, path) == 0;
  pthread_mutex_unlock(&state_lock);
  if (!keep) close(fd); /* this process is present already (or out of memory to say so) */
  *base = mapped;
  *out = st;
  return (int64_t)st.st_size;
}

napi_value mp_shm_open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char path[NAME_LIMIT + 2];
  bool create = false;
  double size = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 ||
      napi_get_value_bool(env, argv[1], &create) != napi_ok || napi_get_value_double(env, argv[2], &size) != napi_ok) {
    napi_throw_type_error(env, NULL, "shmOpen(name: string, create: boolean, size: number)");
    return NULL;
  }
  int r = path_arg(env, argv[0], path);
  if (r < 0) return make_number(env, r);
  pthread_mutex_lock(&state_lock);
  presence_sweep();
  pthread_mutex_unlock(&state_lock);

  uint8_t *base = NULL;
  int tracked = 0;
  int64_t length;
  struct stat st = {0};
  if (create) {
    if (!(size > 0)) return make_number(env, -EINVAL);
    r = create_segment(path, (size_t)size, &tracked, &base, &st);
    if (r < 0) return make_number(env, r);
    length = (int64_t)size;
  } else {
    length = attach_segment(path, &base, &st);
    if (length < 0) return make_number(env, (int32_t)length);
  }

  mapping_t *m = malloc(sizeof *m);
  napi_value buffer, out, flag;
  if (!m) {
    munmap(base, (size_t)length);
    pthread_mutex_lock(&state_lock);
    presence_unmapped(st.st_dev, st.st_ino);
    pthread_mutex_unlock(&state_lock);
    return make_number(env, -ENOMEM);
  }
  *m = (mapping_t){base, (size_t)length, 1, st.st_dev, st.st_ino, NULL};
  if (napi_create_external_arraybuffer(env, base, (size_t)length, mapping_finalize, m, &buffer) != napi_ok) {
    munmap(base, (size_t)length);
    free(m);
    pthread_mutex_lock(&state_lock);
    presence_unmapped(st.st_dev, st.st_ino);
    pthread_mutex_unlock(&state_lock);
    napi_throw_error(env, NULL, "multiproc native: cannot create an external ArrayBuffer (a V8 sandbox build?)");
    return NULL;
  }
  pthread_mutex_lock(&state_lock);
  m->next = mappings;
  mappings = m;
  pthread_mutex_unlock(&state_lock);
  if (napi_create_object(env, &out) != napi_ok || napi_get_boolean(env, tracked, &flag) != napi_ok ||
      napi_set_named_property(env, out, "buffer", buffer) != napi_ok || napi_set_named_property(env, out, "tracked", flag) != napi_ok)
    return NULL;
  return out;
}

napi_value mp_shm_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value buffer;
  void *data = NULL;
  size_t length = 0;
  bool is_buffer = false;
  if (napi_get_cb_info(env, info, &argc, &buffer, NULL, NULL) != napi_ok || argc < 1 ||
      napi_is_arraybuffer(env, buffer, &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "shmClose(buffer: ArrayBuffer)");
    return NULL;
  }
  napi_get_arraybuffer_info(env, buffer, &data, &length);
  mapping_t *m = NULL;
  pthread_mutex_lock(&state_lock);
  if (data) {
    for (m = mappings; m; m = m->next)
      if (m->base == data && m->mapped) break;
  }
  if (m) {
    m->mapped = 0;
    presence_unmapped(m->dev, m->ino);
  }
  presence_sweep();
  pthread_mutex_unlock(&state_lock);
  if (m) {
    /* Detach first: JavaScript must not reach the pages once they are gone (the finalizer then only frees m). */
    napi_detach_arraybuffer(env, buffer);
    munmap(m->base, m->size);
  }
  return NULL;
}

napi_value mp_shm_unlink(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value name;
  char path[NAME_LIMIT + 2];
  if (napi_get_cb_info(env, info, &argc, &name, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "shmUnlink(name: string)");
    return NULL;
  }
  int r = path_arg(env, name, path);
  if (r < 0) return make_number(env, r);
  struct stat st;
  int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
  int known = fd >= 0 && fstat(fd, &st) == 0;
  if (fd >= 0) close(fd);
  r = shm_unlink(path) == 0 ? 0 : -errno;
  pthread_mutex_lock(&state_lock);
  presence_t *p = r == 0 && known ? presence_find(st.st_dev, st.st_ino) : NULL;
  if (p) presence_remove(p, 1);
  presence_sweep();
  pthread_mutex_unlock(&state_lock);
  return make_number(env, r);
}

napi_value mp_shm_addon_path(napi_env env, napi_callback_info info) {
  Dl_info where;
  napi_value out;
  if (!dladdr((void *)&mp_shm_addon_path, &where) || !where.dli_fname) {
    napi_throw_error(env, NULL, "multiproc native: cannot tell where the addon was loaded from");
    return NULL;
  }
  if (napi_create_string_utf8(env, where.dli_fname, NAPI_AUTO_LENGTH, &out) != napi_ok) return NULL;
  return out;
}

/* ---------- the tracker process ---------- */

typedef struct {
  int fd;
  dev_t dev;
  ino_t ino;
  char path[NAME_LIMIT + 2];
} watch_t;

typedef struct {
  watch_t *watches;
  int watch_count, watch_capacity;
  int *clients;
  int client_count, client_capacity;
} tracker_t;

static int grow(void **array, int *capacity, int count, size_t item) {
  if (count < *capacity) return 0;
  int next = *capacity ? *capacity * 2 : 16;
  void *grown = realloc(*array, item * (size_t)next);
  if (!grown) return -ENOMEM;
  *array = grown;
  *capacity = next;
  return 0;
}

/* Accept every pending client and greet it; how many there were. */
static int accept_clients(tracker_t *t, int listener) {
  int accepted = 0;
  for (;;) {
    int c = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return accepted;
    }
    accepted++;
    if (grow((void **)&t->clients, &t->client_capacity, t->client_count, sizeof(int)) != 0) {
      close(c);
      continue;
    }
    send(c, "!", 1, MSG_NOSIGNAL);
    t->clients[t->client_count++] = c;
  }
}

/* "W <dev> <ino> <path>": watch that segment if the name still refers to it. */
static void handle_message(tracker_t *t, const char *message) {
  unsigned long long dev, ino;
  int at = 0;
  if (sscanf(message, "W %llu %llu %n", &dev, &ino, &at) != 2 || at <= 0 || message[at] != '/') return;
  const char *path = message + at;
  if (strlen(path) > NAME_LIMIT + 1) return;
  for (int i = 0; i < t->watch_count; i++)
    if (t->watches[i].dev == (dev_t)dev && t->watches[i].ino == (ino_t)ino) return;
  int fd = shm_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_dev != (dev_t)dev || st.st_ino != (ino_t)ino ||
      grow((void **)&t->watches, &t->watch_capacity, t->watch_count, sizeof(watch_t)) != 0) {
    close(fd);
    return;
  }
  watch_t *w = &t->watches[t->watch_count++];
  w->fd = fd;
  w->dev = st.st_dev;
  w->ino = st.st_ino;
  snprintf(w->path, sizeof w->path, "%s", path);
}

/* Whether the name still refers to the segment we hold. */
static int still_named(const watch_t *w) {
  int fd = shm_open(w->path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct stat st;
  int same = fstat(fd, &st) == 0 && st.st_dev == w->dev && st.st_ino == w->ino;
  close(fd);
  return same;
}

/* Unlink every watched segment no process holds any more; forget those already unlinked. */
static void sweep(tracker_t *t) {
  for (int i = 0; i < t->watch_count;) {
    watch_t *w = &t->watches[i];
    struct stat st;
    int drop = fstat(w->fd, &st) != 0 || st.st_nlink == 0;
    if (!drop && flock(w->fd, LOCK_EX | LOCK_NB) == 0) {
      /* No shared lock left: every process that used it has unlinked it, exited or died. */
      if (fstat(w->fd, &st) == 0 && st.st_nlink > 0 && still_named(w)) shm_unlink(w->path);
      drop = 1;
    }
    if (drop) {
      close(w->fd);
      *w = t->watches[--t->watch_count];
      continue;
    }
    i++;
  }
}

static int run_tracker(int listener) {
  /* Like CPython's resource tracker: a Ctrl-C or a SIGTERM meant for the program must not stop the cleanup. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  fcntl(listener, F_SETFL, fcntl(listener, F_GETFL) | O_NONBLOCK);
  tracker_t t = {0};
  struct pollfd *fds = NULL;
  int fds_capacity = 0;
  double next_sweep = now_ms() + SWEEP_MS;
  for (;;) {
    /* Done when nothing is watched and no client is connected; a client connecting right now sees its link close and starts a new tracker. */
    if (t.watch_count == 0 && t.client_count == 0 && accept_clients(&t, listener) == 0) break;
    if (grow((void **)&fds, &fds_capacity, t.client_count + 1, sizeof(struct pollfd)) != 0) {
      sleep(1);
      continue;
    }
    fds[0] = (struct pollfd){listener, POLLIN, 0};
    for (int i = 0; i < t.client_count; i++) fds[i + 1] = (struct pollfd){t.clients[i], POLLIN, 0};
    int timeout = -1;
    if (t.watch_count > 0) {
      double left = next_sweep - now_ms();
      timeout = left > 0 ? (int)left + 1 : 0;
    }
    int ready = poll(fds, (nfds_t)(t.client_count + 1), timeout);
    if (ready < 0 && errno != EINTR) break;
    if (ready > 0) {
      /* Clients first (their indices match fds), then new ones. */
      for (int i = t.client_count - 1; i >= 0; i--) {
        if (!fds[i + 1].revents) continue;
        char message[MESSAGE_MAX + 1];
        ssize_t n;
        for (;;) {
          n = recv(t.clients[i], message, MESSAGE_MAX, 0);
          if (n > 0) {
            message[n] = '\0';
            handle_message(&t, message);
            continue;
          }
          /* ECONNRESET: the client died before reading our hello, but what it sent is still queued behind that error. */
          if (n < 0 && (errno == EINTR || errno == ECONNRESET)) continue;
          break;
        }
        if (n == 0 || errno != EAGAIN) {
          close(t.clients[i]);
          t.clients[i] = t.clients[--t.client_count];
        }
      }
      if (fds[0].revents) accept_clients(&t, listener);
    }
    if (t.watch_count > 0 && now_ms() >= next_sweep) {
      sweep(&t);
      next_sweep = now_ms() + SWEEP_MS;
    } else if (t.watch_count == 0) {
      next_sweep = now_ms() + SWEEP_MS;
    }
  }
  close(listener);
  free(fds);
  free(t.clients);
  free(t.watches);
  return 0;
}

napi_value mp_shm_tracker_run(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, arg, &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "shmTrackerRun(fd: number)");
    return NULL;
  }
  return make_number(env, run_tracker(fd));
}
