/* Asynchronous futex waits, one waiter thread per JavaScript environment: see waiter.c. */
#ifndef MULTIPROC_WAITER_H
#define MULTIPROC_WAITER_H

#include <stddef.h>
#include <stdint.h>
#include <node_api.h>

typedef struct mp_waiter mp_waiter_t;

mp_waiter_t *mp_waiter_create(napi_env env);
/* Calls `callback(result)` on the JavaScript thread when the wait ends (MP_WAIT_*). */
int mp_waiter_add(napi_env env, mp_waiter_t *w, int segment, size_t offset, uint32_t expected, double timeout_ms, napi_value callback, uint32_t *request);
/* 1 if the wait was still pending (its callback will not be called), else 0. */
int mp_waiter_cancel(napi_env env, mp_waiter_t *w, uint32_t request);
void mp_waiter_destroy(mp_waiter_t *w);

#endif
