/* Asynchronous futex waits, one waiter thread per JavaScript environment: see waiter.c. */
#ifndef MULTIPROC_WAITER_H
#define MULTIPROC_WAITER_H

#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

typedef struct mp_waiter mp_waiter_t;

mp_waiter_t *mp_waiter_create(napi_env env);
/* Calls `callback(result)` on the JavaScript thread when the wait ends (MP_WAIT_*). */
/*
 * Wait for the word at `offset` to change from `expected`. `settle_offset`
 * (-1: none): a word of the same segment decremented once when the wait
 * ends, woken, timed out, changed or cancelled, by whichever thread ends it:
 * a count of sleepers that wakers read is then right as soon as the sleeper
 * is awake, not only once its callback has run on the event loop.
 * `linger`: the caller will wait on this word again soon, and nobody else
 * sleeps on it; the word stays watched a while (see waiter.c).
 */
int mp_waiter_add(napi_env env, mp_waiter_t *w, int segment, size_t offset, uint32_t expected, double timeout_ms, long settle_offset, int linger, napi_value callback, uint32_t *request);
/* 1 if the wait was still pending (its callback will not be called), else 0. */
int mp_waiter_cancel(napi_env env, mp_waiter_t *w, uint32_t request);
void mp_waiter_destroy(mp_waiter_t *w);

#endif
