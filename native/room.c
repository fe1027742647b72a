/*
 * The check every shared allocation makes before it commits a page
 * (issue 12): a memfd or a tmpfs file can be given more pages than the
 * machine has, and then the kernel's OOM killer picks a victim, on a shared
 * machine anyone's. Asking first turns that into an error naming both sizes.
 * The answer is a snapshot: another program may take the memory meanwhile,
 * which posix_fallocate then reports as ENOSPC.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <time.h>
#include <sys/statfs.h>

#include "room.h"

/* The first number in a small file, or -1 ("max" and unreadable files are no limit). */
static double read_number(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[64];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  char *end;
  double value = strtod(text, &end);
  return end == text ? -1 : value;
}

static double meminfo_available(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (!f) return -1;
  char line[128];
  double kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
  fclose(f);
  return kib < 0 ? -1 : kib * 1024;
}

/* This process's cgroup path in the hierarchy whose controller list in /proc/self/cgroup is `controller` ("" for v2, "memory" for v1). */
static int cgroup_path(const char *controller, char *out, size_t size) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return -1;
  char line[4096];
  int found = -1;
  while (fgets(line, sizeof line, f)) {
    char *first = strchr(line, ':');
    char *second = first ? strchr(first + 1, ':') : NULL;
    if (!second) continue;
    *second = '\0';
    if (strcmp(first + 1, controller) != 0) continue;
    char *path = second + 1;
    path[strcspn(path, "\n")] = '\0';
    snprintf(out, size, "%s", path);
    found = 0;
    break;
  }
  fclose(f);
  return found;
}

/* The value of `key` in a memory.stat file, or 0. */
static double stat_value(const char *path, const char *key) {
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  char line[256];
  size_t length = strlen(key);
  double value = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, length) == 0 && line[length] == ' ') {
      value = strtod(line + length + 1, NULL);
      break;
    }
  }
  fclose(f);
  return value;
}

/*
 * The least room left under any limit from this process's cgroup up to the
 * root of the hierarchy mounted at `mount`. Inside a container the mount's
 * root is usually the container's own cgroup, so paths that do not exist
 * there are skipped and the mount's root is read too. Usage counts the
 * page cache, which the kernel reclaims before it fails a charge: its
 * inactive file pages (`inactive_key` in memory.stat) are taken off, as
 * the kubelet's "working set" does.
 */
static double cgroup_room(const char *mount, const char *controller, const char *limit_file, const char *usage_file, const char *inactive_key) {
  char path[4096];
  double room = -1;
  if (cgroup_path(controller, path, sizeof path) != 0) return -1;
  for (;;) {
    char limit_at[8192], usage_at[8192], stat_at[8192];
    snprintf(limit_at, sizeof limit_at, "%s%s/%s", mount, path, limit_file);
    snprintf(usage_at, sizeof usage_at, "%s%s/%s", mount, path, usage_file);
    snprintf(stat_at, sizeof stat_at, "%s%s/memory.stat", mount, path);
    double limit = read_number(limit_at), usage = read_number(usage_at);
    /* v1 says "no limit" with a number near 2^63. */
    if (limit >= 0 && limit < 9e18 && usage >= 0) {
      double working = usage - stat_value(stat_at, inactive_key);
      if (working < 0) working = 0;
      double left = limit > working ? limit - working : 0;
      if (room < 0 || left < room) room = left;
    }
    if (path[0] == '\0') break;
    char *slash = strrchr(path, '/');
    if (!slash) break;
    *slash = '\0';
  }
  return room;
}

static double lowest(double a, double b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

static double memory_room(void) {
  double room = meminfo_available();
  room = lowest(room, cgroup_room("/sys/fs/cgroup", "", "memory.max", "memory.current", "inactive_file"));
  room = lowest(room, cgroup_room("/sys/fs/cgroup/unified", "", "memory.max", "memory.current", "inactive_file"));
  room = lowest(room, cgroup_room("/sys/fs/cgroup/memory", "memory", "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"));
  return room < 0 ? 1e300 : room;
}

static double file_room(int fd, const char *path, double room) {
  struct statfs fs;
  int known = fd >= 0 ? fstatfs(fd, &fs) == 0 : path ? statfs(path, &fs) == 0 : 0;
  if (known && fs.f_blocks > 0) room = lowest(room, (double)fs.f_bavail * (double)fs.f_bsize);
  return room;
}

double mp_room(int fd, const char *path) {
  return file_room(fd, path, memory_room());
}

/*
 * Reading the memory figures costs tens of microseconds, a good part of
 * making a small queue: a reading is reused for FRESH_MS, less what was
 * granted since (so a burst of allocations cannot pass it together).
 */
#define FRESH_MS 50
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static double cached_room = 0, cached_at = -1e300, granted = 0;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int mp_room_take(int fd, double size) {
  pthread_mutex_lock(&cache_lock);
  double now = now_ms();
  if (now - cached_at > FRESH_MS || size > cached_room - granted) {
    cached_room = memory_room();
    cached_at = now;
    granted = 0;
  }
  int ok = size <= file_room(fd, NULL, cached_room - granted);
  if (ok) granted += size;
  pthread_mutex_unlock(&cache_lock);
  return ok ? 0 : -ENOMEM;
}
