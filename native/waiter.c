/*
 * Asynchronous futex waits: one waiter thread per JavaScript environment
 * (the main thread and each worker), not the libuv threadpool, which a few
 * pending waits would starve (see research/native-spike.md). The thread
 * sleeps in futex_waitv on a private control word plus every pending word,
 * and hands finished waits back through a thread-safe function. A wait holds
 * a reference on its segment until it finishes, so the word stays mapped.
 *
 * A loop that waits on one word again and again (a channel's only reader,
 * as the pool's result loop is) woke this thread twice per message: once for
 * the message, once when the next wait was added, only so that the thread
 * would put the word back in its futex_waitv set. A wait added with `linger`
 * leaves its word in the set for a while once it ends (a "ghost", watched
 * at whatever value it holds), and a wait added on a ghost's word wakes
 * nobody: the next waker of that word wakes this thread, which then sees
 * the new wait. The add checks the word once the wait is in the list, so a
 * change the waker did not wake for (it looked at the count of sleepers
 * before the caller counted itself in) still pokes. Only for a word nobody
 * else sleeps on: a waker that wakes one sleeper could wake the ghost
 * instead of another process's reader.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <node_api.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#include "sync.h"
#include "waiter.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#define WAITV_MAX 128
#define FLAG_U32 0x02
#define FLAG_PRIVATE 128
/* How long the word of a finished wait stays watched for the next wait on it. */
#define GHOST_NS 20000000L

struct waitv_entry {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

typedef struct pending {
  uint32_t request;
  int segment;
  uint32_t *addr;
  /* Decremented once when the wait ends, however it ends (NULL: none); see mp_waiter_add. */
  uint32_t *settle;
  uint32_t expected;
  int linger; /* its word stays watched once it ends (see the header comment) */
  struct timespec deadline; /* tv_sec < 0: none */
  int result;               /* -1 while pending */
  napi_ref callback;
  struct pending *next;
} pending_t;

/* The word of a finished wait, still in the futex_waitv set (see the header comment). */
typedef struct ghost {
  int segment;
  uint32_t *addr;
  struct timespec expires;
  int watched; /* in the set this thread sleeps on now */
  struct ghost *next;
} ghost_t;

struct mp_waiter {
  pthread_t thread;
  pthread_mutex_t lock;
  uint32_t control; /* bumped to make the thread look at the list again */
  int stop;
  pending_t *pending;
  pending_t *done;
  ghost_t *ghosts;
  uint32_t next_request;
  int live; /* waits not yet delivered to JavaScript */
  napi_threadsafe_function deliver;
  int started;
  int have_waitv;
};

static int before(const struct timespec *a, const struct timespec *b) {
  return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static void poke(mp_waiter_t *w) {
  __atomic_add_fetch(&w->control, 1, __ATOMIC_SEQ_CST);
  syscall(SYS_futex, &w->control, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void settle(pending_t *p) {
  if (p->settle) __atomic_sub_fetch(p->settle, 1, __ATOMIC_SEQ_CST);
}

static void add_ns(struct timespec *t, long long ns) {
  t->tv_sec += (time_t)(ns / 1000000000LL);
  t->tv_nsec += (long)(ns % 1000000000LL);
  if (t->tv_nsec >= 1000000000L) { t->tv_sec++; t->tv_nsec -= 1000000000L; }
}

/* Keep watching a finished wait's word (if no ghost does yet); the caller holds the lock. */
static void haunt(mp_waiter_t *w, const pending_t *p, const struct timespec *now) {
  for (ghost_t *g = w->ghosts; g; g = g->next) {
    if (g->addr == p->addr) { g->expires = *now; add_ns(&g->expires, GHOST_NS); return; }
  }
  ghost_t *g = calloc(1, sizeof *g);
  if (!g || mp_segment_retain(p->segment) != 0) { free(g); return; }
  g->segment = p->segment;
  g->addr = p->addr;
  g->expires = *now;
  add_ns(&g->expires, GHOST_NS);
  g->next = w->ghosts;
  w->ghosts = g;
}

/* Move a finished wait to the done list; the caller holds the lock. */
static void finish(mp_waiter_t *w, pending_t **link, int result, const struct timespec *now) {
  pending_t *p = *link;
  *link = p->next;
  settle(p);
  /* Without futex_waitv nothing would watch a ghost (nor drop it in time). */
  if (p->linger && w->have_waitv) haunt(w, p, now);
  p->result = result;
  p->next = w->done;
  w->done = p;
}

static int waited_on(const mp_waiter_t *w, const uint32_t *addr) {
  for (const pending_t *p = w->pending; p; p = p->next) if (p->addr == addr) return 1;
  return 0;
}

static void *run(void *arg) {
  mp_waiter_t *w = arg;
  struct waitv_entry entries[WAITV_MAX];
  pending_t *watched[WAITV_MAX];
  for (;;) {
    pthread_mutex_lock(&w->lock);
    if (w->stop) { pthread_mutex_unlock(&w->lock); break; }
    uint32_t control = __atomic_load_n(&w->control, __ATOMIC_SEQ_CST);
    struct timespec now, nearest = {-1, 0};
    clock_gettime(CLOCK_MONOTONIC, &now);
    int count = 1, finished = 0, overflow = 0;
    entries[0] = (struct waitv_entry){control, (uint64_t)(uintptr_t)&w->control, FLAG_U32 | FLAG_PRIVATE, 0};
    for (pending_t **link = &w->pending; *link;) {
      pending_t *p = *link;
      if (__atomic_load_n(p->addr, __ATOMIC_SEQ_CST) != p->expected) { finish(w, link, MP_WAIT_CHANGED, &now); finished = 1; continue; }
      if (p->deadline.tv_sec >= 0 && !before(&now, &p->deadline)) { finish(w, link, MP_WAIT_TIMEOUT, &now); finished = 1; continue; }
      if (count < WAITV_MAX) {
        watched[count] = p;
        entries[count++] = (struct waitv_entry){p->expected, (uint64_t)(uintptr_t)p->addr, FLAG_U32, 0};
      } else {
        overflow = 1;
      }
      if (p->deadline.tv_sec >= 0 && (nearest.tv_sec < 0 || before(&p->deadline, &nearest))) nearest = p->deadline;
      link = &p->next;
    }
    /* Ghosts: dropped once expired or once a wait is on their word again; else watched at the word's value now. */
    ghost_t *gone = NULL;
    for (ghost_t **link = &w->ghosts; *link;) {
      ghost_t *g = *link;
      g->watched = 0;
      if (!before(&now, &g->expires) || waited_on(w, g->addr)) {
        *link = g->next;
        g->next = gone;
        gone = g;
        continue;
      }
      if (count < WAITV_MAX && w->have_waitv) {
        g->watched = 1;
        watched[count] = NULL;
        entries[count++] = (struct waitv_entry){__atomic_load_n(g->addr, __ATOMIC_SEQ_CST), (uint64_t)(uintptr_t)g->addr, FLAG_U32, 0};
        if (nearest.tv_sec < 0 || before(&g->expires, &nearest)) nearest = g->expires;
      }
      link = &g->next;
    }
    pthread_mutex_unlock(&w->lock);
    while (gone) {
      ghost_t *g = gone;
      gone = g->next;
      mp_segment_release(g->segment);
      free(g);
    }
    if (finished) napi_call_threadsafe_function(w->deliver, NULL, napi_tsfn_nonblocking);
    /* Words beyond what one futex_waitv can watch are looked at again every few milliseconds. */
    if (overflow) {
      struct timespec soon = now;
      add_ns(&soon, 5000000L);
      if (nearest.tv_sec < 0 || before(&soon, &nearest)) nearest = soon;
    }
    long r;
    if (w->have_waitv) {
      r = syscall(SYS_futex_waitv, entries, count, 0, nearest.tv_sec < 0 ? NULL : &nearest, CLOCK_MONOTONIC);
      if (r < 0 && errno == ENOSYS) { w->have_waitv = 0; continue; }
    } else {
      /* Kernels before 5.16: sleep on the control word and look at the others every millisecond. */
      struct timespec slice = {0, 1000000L};
      r = syscall(SYS_futex, &w->control, FUTEX_WAIT_PRIVATE, control, count > 1 ? &slice : NULL, NULL, 0);
    }
    /* A wait's word woken: it ends. A ghost's: the next round looks at the waits on its word. */
    if (r >= 1 && w->have_waitv && watched[r]) {
      pthread_mutex_lock(&w->lock);
      clock_gettime(CLOCK_MONOTONIC, &now);
      for (pending_t **link = &w->pending; *link; link = &(*link)->next) {
        if (*link == watched[r]) { finish(w, link, MP_WAIT_WOKEN, &now); break; }
      }
      pthread_mutex_unlock(&w->lock);
      napi_call_threadsafe_function(w->deliver, NULL, napi_tsfn_nonblocking);
    }
  }
  return NULL;
}

/* On the JavaScript thread: call back every finished wait. */
static void deliver(napi_env env, napi_value js_unused, void *context, void *data) {
  mp_waiter_t *w = context;
  if (!env) return;
  pthread_mutex_lock(&w->lock);
  pending_t *done = w->done;
  w->done = NULL;
  pthread_mutex_unlock(&w->lock);
  while (done) {
    pending_t *p = done;
    done = p->next;
    napi_value callback, global, result;
    if (napi_get_reference_value(env, p->callback, &callback) == napi_ok && callback) {
      napi_get_global(env, &global);
      napi_create_int32(env, p->result, &result);
      napi_call_function(env, global, callback, 1, &result, NULL);
    }
    napi_delete_reference(env, p->callback);
    mp_segment_release(p->segment);
    free(p);
    if (--w->live == 0) napi_unref_threadsafe_function(env, w->deliver);
  }
}

mp_waiter_t *mp_waiter_create(napi_env env) {
  mp_waiter_t *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  pthread_mutex_init(&w->lock, NULL);
  w->have_waitv = 1;
  napi_value name;
  napi_create_string_utf8(env, "multiproc waiter", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, w, deliver, &w->deliver) != napi_ok) {
    free(w);
    return NULL;
  }
  napi_unref_threadsafe_function(env, w->deliver);
  return w;
}

int mp_waiter_add(napi_env env, mp_waiter_t *w, int segment, size_t offset, uint32_t expected, double timeout_ms, long settle_offset, int linger, napi_value callback, uint32_t *request) {
  int fd;
  size_t size;
  uint8_t *base;
  if (mp_segment_info(segment, &fd, &size, &base) != 0 || offset % 4 != 0 || offset + 4 > size) return -EINVAL;
  if (settle_offset >= 0 && (settle_offset % 4 != 0 || (size_t)settle_offset + 4 > size)) return -EINVAL;
  if (!w->started) {
    if (pthread_create(&w->thread, NULL, run, w) != 0) return -EAGAIN;
    w->started = 1;
  }
  pending_t *p = calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  mp_segment_retain(segment);
  p->segment = segment;
  p->addr = (uint32_t *)(base + offset);
  p->settle = settle_offset >= 0 ? (uint32_t *)(base + settle_offset) : NULL;
  p->expected = expected;
  p->linger = linger;
  p->result = -1;
  p->deadline.tv_sec = -1;
  if (timeout_ms >= 0) {
    clock_gettime(CLOCK_MONOTONIC, &p->deadline);
    /* Whole seconds apart: a timeout of years would overflow a count of nanoseconds. */
    time_t seconds = (time_t)(timeout_ms / 1000);
    p->deadline.tv_sec += seconds;
    add_ns(&p->deadline, (long long)((timeout_ms - (double)seconds * 1000) * 1e6));
  }
  napi_create_reference(env, callback, 1, &p->callback);
  if (w->live++ == 0) napi_ref_threadsafe_function(env, w->deliver);
  uint32_t *addr = p->addr;
  int haunted = 0;
  pthread_mutex_lock(&w->lock);
  p->request = ++w->next_request;
  p->next = w->pending;
  w->pending = p;
  for (ghost_t *g = w->ghosts; g && !haunted; g = g->next) haunted = g->watched && g->addr == addr;
  pthread_mutex_unlock(&w->lock);
  *request = p->request;
  /* On a ghost's word the next waker wakes the thread; a change it did not wake for is seen here. */
  if (!haunted || __atomic_load_n(addr, __ATOMIC_SEQ_CST) != expected) poke(w);
  return 0;
}

int mp_waiter_cancel(napi_env env, mp_waiter_t *w, uint32_t request) {
  pending_t *found = NULL;
  pthread_mutex_lock(&w->lock);
  for (pending_t **link = &w->pending; *link; link = &(*link)->next) {
    if ((*link)->request == request) {
      found = *link;
      *link = found->next;
      break;
    }
  }
  pthread_mutex_unlock(&w->lock);
  if (!found) return 0;
  settle(found);
  napi_delete_reference(env, found->callback);
  mp_segment_release(found->segment);
  free(found);
  if (--w->live == 0) napi_unref_threadsafe_function(env, w->deliver);
  poke(w);
  return 1;
}

/* Environment teardown (process exit, worker end): stop the thread; pending waits are dropped. */
void mp_waiter_destroy(mp_waiter_t *w) {
  if (!w) return;
  pthread_mutex_lock(&w->lock);
  w->stop = 1;
  pthread_mutex_unlock(&w->lock);
  poke(w);
  if (w->started) pthread_join(w->thread, NULL);
  napi_release_threadsafe_function(w->deliver, napi_tsfn_abort);
  for (pending_t *p = w->pending; p;) {
    pending_t *next = p->next;
    mp_segment_release(p->segment);
    free(p);
    p = next;
  }
  for (pending_t *p = w->done; p;) {
    pending_t *next = p->next;
    mp_segment_release(p->segment);
    free(p);
    p = next;
  }
  for (ghost_t *g = w->ghosts; g;) {
    ghost_t *next = g->next;
    mp_segment_release(g->segment);
    free(g);
    g = next;
  }
  pthread_mutex_destroy(&w->lock);
  free(w);
}
