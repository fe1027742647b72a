/* Named shared memory (SharedMemory) and its reclamation tracker: see shm.c. */
#ifndef MULTIPROC_SHM_H
#define MULTIPROC_SHM_H

#include <node_api.h>

/* shmOpen(name, create, size): { buffer, tracked }, or -errno. */
napi_value mp_shm_open(napi_env env, napi_callback_info info);
/* shmClose(buffer): unmap now; the buffer is detached (zero length). */
napi_value mp_shm_close(napi_env env, napi_callback_info info);
/* shmUnlink(name): 0 or -errno. */
napi_value mp_shm_unlink(napi_env env, napi_callback_info info);
/* shmTrackerConnect(): 0 connected, > 0 a listening fd to start a tracker on, or -errno. */
napi_value mp_shm_tracker_connect(napi_env env, napi_callback_info info);
/* shmTrackerRun(fd): the tracker's loop on listening socket `fd`; returns when it has nothing left to do. */
napi_value mp_shm_tracker_run(napi_env env, napi_callback_info info);
/* shmAddonPath(): the file this addon was loaded from. */
napi_value mp_shm_addon_path(napi_env env, napi_callback_info info);

#endif
