/* How much shared memory can still be committed: see room.c. */
#ifndef MULTIPROC_ROOM_H
#define MULTIPROC_ROOM_H

/*
 * Bytes this process can still commit to a shared file: the lowest of
 * MemAvailable, every memory cgroup limit above it (v2 and v1) minus that
 * cgroup's usage, and the free space of the filesystem holding `fd` (fd < 0:
 * of `path`; neither: memory only). A filesystem with no size (a memfd's)
 * does not count.
 */
double mp_room(int fd, const char *path);

/* 0 if `size` more bytes fit in mp_room(fd, NULL) (counted as taken), else -ENOMEM. Cheaper than mp_room: see room.c. */
int mp_room_take(int fd, double size);

#endif
