/*
 * Shared segments and cross-process wait/wake (the part of CPython's
 * _multiprocessing that we need): memfd segments mapped once per process,
 * futex wait/wake on words inside them, and a waiter thread per JavaScript
 * environment that turns waits into callbacks without blocking the event
 * loop. Linux only for now; macOS would replace futex with __ulock_wait here.
 *
 * Segments are nameless (memfd_create), so a crash leaves nothing in
 * /dev/shm: the kernel frees one when its last descriptor and mapping are
 * gone. Another process reaches a segment through /proc/<pid>/fd/<fd> of any
 * process that holds it. Every process maps a segment once and keeps a count
 * of the JavaScript buffers over it; the mapping goes when the count does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#include "room.h"
#include "sync.h"

/* ---------- segments ---------- */

typedef struct {
  int used;
  int fd;
  dev_t dev;
  ino_t ino;
  /* The mapping's length: the file's size, or more when address space was reserved for growth. */
  size_t size;
  uint8_t *base;
  int refs;
} segment_t;

static segment_t *segments = NULL;
static int segment_count = 0;
static pthread_mutex_t segments_lock = PTHREAD_MUTEX_INITIALIZER;

static int register_segment(int fd, struct stat *st, uint8_t *base, size_t mapped) {
  int id = -1;
  for (int i = 0; i < segment_count; i++)
    if (!segments[i].used) { id = i; break; }
  if (id < 0) {
    segment_t *grown = realloc(segments, sizeof(segment_t) * (size_t)(segment_count + 16));
    if (!grown) return -ENOMEM;
    memset(grown + segment_count, 0, sizeof(segment_t) * 16);
    segments = grown;
    id = segment_count;
    segment_count += 16;
  }
  segments[id] = (segment_t){1, fd, st->st_dev, st->st_ino, mapped, base, 1};
  return id;
}

/* The segment with id `id`, or NULL; callers hold segments_lock. */
static segment_t *segment_at(int id) {
  if (id < 0 || id >= segment_count || !segments[id].used) return NULL;
  return &segments[id];
}

/*
 * Large segments are mapped with their page tables filled in: faulting in
 * 80 MB page by page costs about three times as much (measured: 36-43 ms
 * against 11.5 ms), and shared arrays are usually used whole.
 */
static int map_flags(size_t size) {
  return size >= (1u << 20) ? MAP_SHARED | MAP_POPULATE : MAP_SHARED;
}

/*
 * Map `mapped` >= the file's size bytes of `fd`. Past the end of the file
 * the mapping is address space only (touching it would be a SIGBUS): a
 * segment that grows (segmentGrow) is mapped once at its largest size, so
 * that its pages, once faulted in, stay mapped while it grows.
 */
static void *map_segment(int fd, size_t file_size, size_t mapped, int populate) {
  int flags = populate && mapped == file_size ? map_flags(mapped) : MAP_SHARED;
  return mmap(NULL, mapped, PROT_READ | PROT_WRITE, flags, fd, 0);
}

int mp_segment_create(size_t size, size_t reserve) {
  size_t mapped = reserve > size ? reserve : size;
  int fd = memfd_create("multiproc", MFD_CLOEXEC);
  if (fd < 0) return -errno;
  if (mp_room_take(fd, (double)size) != 0) { close(fd); return -ENOMEM; }
  if (ftruncate(fd, (off_t)size) != 0) { int e = errno; close(fd); return -e; }
  /* Reserve the pages now: a full tmpfs must fail here with ENOSPC, not later with SIGBUS. */
  int err = posix_fallocate(fd, 0, (off_t)size);
  if (err != 0) { close(fd); return -err; }
  void *base = map_segment(fd, size, mapped, 1);
  if (base == MAP_FAILED) { int e = errno; close(fd); return -e; }
  struct stat st;
  if (fstat(fd, &st) != 0) { int e = errno; munmap(base, mapped); close(fd); return -e; }
  pthread_mutex_lock(&segments_lock);
  int id = register_segment(fd, &st, base, mapped);
  pthread_mutex_unlock(&segments_lock);
  if (id < 0) { munmap(base, mapped); close(fd); }
  return id;
}

int mp_segment_open(int pid, int fd_in_pid, double expected_inode, int populate, size_t reserve) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd_in_pid);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) != 0) { int e = errno; close(fd); return -e; }
  /* The holder may have closed that descriptor and reused its number for something else. */
  if (expected_inode > 0 && (double)st.st_ino != expected_inode) { close(fd); return -ESTALE; }
  pthread_mutex_lock(&segments_lock);
  for (int i = 0; i < segment_count; i++) {
    /* A mapping made before the file grew does not cover it: map it again. */
    if (segments[i].used && segments[i].dev == st.st_dev && segments[i].ino == st.st_ino && segments[i].size >= (size_t)st.st_size &&
        segments[i].size >= reserve) {
      segments[i].refs++;
      pthread_mutex_unlock(&segments_lock);
      close(fd);
      return i;
    }
  }
  pthread_mutex_unlock(&segments_lock);
  if (st.st_size <= 0) { close(fd); return -EAGAIN; }
  size_t mapped = reserve > (size_t)st.st_size ? reserve : (size_t)st.st_size;
  void *base = map_segment(fd, (size_t)st.st_size, mapped, populate);
  if (base == MAP_FAILED) { int e = errno; close(fd); return -e; }
  pthread_mutex_lock(&segments_lock);
  int id = register_segment(fd, &st, base, mapped);
  pthread_mutex_unlock(&segments_lock);
  if (id < 0) { munmap(base, mapped); close(fd); }
  return id;
}

int mp_segment_retain(int id) {
  pthread_mutex_lock(&segments_lock);
  segment_t *s = segment_at(id);
  if (s) s->refs++;
  pthread_mutex_unlock(&segments_lock);
  return s ? 0 : -EBADF;
}

void mp_segment_release(int id) {
  pthread_mutex_lock(&segments_lock);
  segment_t *s = segment_at(id);
  if (s && --s->refs == 0) {
    munmap(s->base, s->size);
    close(s->fd);
    s->used = 0;
  }
  pthread_mutex_unlock(&segments_lock);
}

double mp_segment_inode(int id) {
  pthread_mutex_lock(&segments_lock);
  segment_t *s = segment_at(id);
  double inode = s ? (double)s->ino : -1;
  pthread_mutex_unlock(&segments_lock);
  return inode;
}

int mp_segment_info(int id, int *fd, size_t *size, uint8_t **base) {
  pthread_mutex_lock(&segments_lock);
  segment_t *s = segment_at(id);
  if (s) { *fd = s->fd; *size = s->size; *base = s->base; }
  pthread_mutex_unlock(&segments_lock);
  return s ? 0 : -EBADF;
}

/*
 * Make the segment's file at least `size` bytes, with the pages of
 * [from, size) reserved (ENOSPC now rather than SIGBUS later). The
 * mappings must already cover it (see map_segment).
 */
int mp_segment_grow(int id, double from, double size) {
  int fd;
  size_t mapped;
  uint8_t *base;
  if (mp_segment_info(id, &fd, &mapped, &base) != 0) return -EBADF;
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (size > from && mp_room_take(fd, size - from) != 0) return -ENOMEM;
  if ((double)st.st_size < size && ftruncate(fd, (off_t)size) != 0) return -errno;
  if (size > from) {
    int err = posix_fallocate(fd, (off_t)from, (off_t)(size - from));
    if (err != 0) return -err;
  }
  return 0;
}

/* Give the pages of [offset, offset + length) back to the system; they read as zeros until written. */
int mp_segment_discard(int id, double offset, double length) {
  int fd;
  size_t mapped;
  uint8_t *base;
  if (mp_segment_info(id, &fd, &mapped, &base) != 0) return -EBADF;
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length) != 0) return -errno;
  return 0;
}

/* ---------- futex ---------- */

static uint32_t *word_at(int id, size_t offset) {
  int fd;
  size_t size;
  uint8_t *base;
  if (mp_segment_info(id, &fd, &size, &base) != 0 || offset % 4 != 0 || offset + 4 > size) return NULL;
  return (uint32_t *)(base + offset);
}

static void add_ms(struct timespec *ts, double ms) {
  ts->tv_sec += (time_t)(ms / 1000);
  ts->tv_nsec += (long)(((long long)(ms * 1e6)) % 1000000000LL);
  if (ts->tv_nsec >= 1000000000L) { ts->tv_sec++; ts->tv_nsec -= 1000000000L; }
}

/* Shared (not FUTEX_PRIVATE): the key is the page's inode and offset, the same in every process. */
int mp_futex_wait(int id, size_t offset, uint32_t expected, double timeout_ms) {
  uint32_t *addr = word_at(id, offset);
  if (!addr) return -EINVAL;
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  if (timeout_ms >= 0) add_ms(&deadline, timeout_ms);
  for (;;) {
    struct timespec rel, *relp = NULL;
    if (timeout_ms >= 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      rel.tv_sec = deadline.tv_sec - now.tv_sec;
      rel.tv_nsec = deadline.tv_nsec - now.tv_nsec;
      if (rel.tv_nsec < 0) { rel.tv_sec--; rel.tv_nsec += 1000000000L; }
      if (rel.tv_sec < 0) return MP_WAIT_TIMEOUT;
      relp = &rel;
    }
    long r = syscall(SYS_futex, addr, FUTEX_WAIT, expected, relp, NULL, 0);
    if (r == 0) return MP_WAIT_WOKEN;
    if (errno == EAGAIN) return MP_WAIT_CHANGED;
    if (errno == ETIMEDOUT) return MP_WAIT_TIMEOUT;
    if (errno != EINTR) return -errno;
  }
}

int mp_futex_wake(int id, size_t offset, int count) {
  uint32_t *addr = word_at(id, offset);
  if (!addr) return -EINVAL;
  long r = syscall(SYS_futex, addr, FUTEX_WAKE, count, NULL, NULL, 0);
  return r < 0 ? -errno : (int)r;
}

int mp_thread_id(void) {
  return (int)syscall(SYS_gettid);
}
