/* Shared segments and futex wait/wake: see sync.c. Results of a wait: */
#ifndef MULTIPROC_SYNC_H
#define MULTIPROC_SYNC_H

#include <stddef.h>
#include <stdint.h>

#define MP_WAIT_WOKEN 0   /* woken by a wake on the word */
#define MP_WAIT_TIMEOUT 1 /* the timeout passed */
#define MP_WAIT_CHANGED 2 /* the word no longer held the expected value */

/* reserve > size: map that much address space, for a segment that will grow (mp_segment_grow). */
int mp_segment_create(size_t size, size_t reserve);
/* expected_inode > 0: refuse (-ESTALE) a descriptor that now names another file. populate: fill the page tables of a large segment now. */
int mp_segment_open(int pid, int fd_in_pid, double expected_inode, int populate, size_t reserve);
double mp_segment_inode(int id);
int mp_segment_retain(int id);
void mp_segment_release(int id);
int mp_segment_grow(int id, double from, double size);
int mp_segment_discard(int id, double offset, double length);
int mp_segment_info(int id, int *fd, size_t *size, uint8_t **base);
int mp_futex_wait(int id, size_t offset, uint32_t expected, double timeout_ms);
int mp_futex_wake(int id, size_t offset, int count);
int mp_thread_id(void);

#endif
