/*
 * multiproc: Python's multiprocessing for Node.js. This file is the public
 * surface and only re-exports; each concept lives in its own module.
 */
export {
  Process,
  ParentProcess,
  currentProcess,
  parentProcess,
  activeChildren,
  cpuCount,
  isMain,
  type ProcessOptions,
  type Target,
} from "./process.ts";
export {
  Context,
  getContext,
  getStartMethod,
  setStartMethod,
  getAllStartMethods,
  type StartMethod,
} from "./context.ts";
export {
  Lock,
  RLock,
  Semaphore,
  BoundedSemaphore,
  Event,
  Condition,
  Barrier,
  type LockGuard,
  type LockOptions,
  type Acquire,
} from "./synchronize.ts";
export {
  SharedMemory,
  ShareableList,
  type SharedMemoryOptions,
  type ShareableListOptions,
  type ShareableValue,
} from "./sharedMemory.ts";
export {
  Value,
  RawValue,
  SharedArray,
  RawArray,
  type Typecode,
  type IntegerTypecode,
  type BigIntTypecode,
  type ElementOf,
  type ViewOf,
  type SizeOrValues,
  type SharedLock,
  type SharedOptions,
  type ValueConstructor,
  type SharedArrayConstructor,
  type Synchronized,
  type SynchronizedArray,
} from "./sharedctypes.ts";
// Python's multiprocessing.Array, for `import * as mp` users (`new mp.Array("d", 10)`).
export { SharedArray as Array } from "./sharedctypes.ts";
export { Queue, SimpleQueue, JoinableQueue, type QueueWait } from "./queues.ts";
export { Connection, Pipe } from "./connection.ts";
export {
  Pool,
  type PoolOptions,
  type PoolStats,
  type TaskOptions,
  type ApplyOptions,
  type ApplyAsyncOptions,
  type MapOptions,
  type MapAsyncOptions,
  type IMapOptions,
} from "./pool.ts";
export type { PoolApi, PoolBackend } from "./pool/api.ts";
export { AsyncResult, MapResult, IMapIterator, type ResultCallbacks } from "./pool/results.ts";
export { Listener, Client, type Address, type BoundAddress, type Family, type ListenerOptions, type ClientOptions } from "./listener.ts";
export {
  Manager,
  BaseManager,
  SyncManager,
  Server,
  BaseProxy,
  callMethod,
  type ManagerOptions,
  type RegisterOptions,
  type DictProxy,
  type ListProxy,
  type NamespaceProxy,
  type ValueProxy,
  type ArrayProxy,
  type QueueProxy,
  type JoinableQueueProxy,
  type LockProxy,
  type RLockProxy,
  type SemaphoreProxy,
  type ConditionProxy,
  type EventProxy,
  type BarrierProxy,
  type PoolProxy,
  type AsyncResultProxy,
  type ProxyGuard,
} from "./managers.ts";
export { registerTarget, FunctionLookupError, type ModuleHandle } from "./functionRefs.ts";
export { registerSerializable, SerializationError, reduce, registerRebuilder, type Reducible, type Reduction } from "./reduction.ts";
export type { Wait, WaitOptions, BlockingWaitOptions } from "./waiting.ts";
export {
  ProcessError,
  TimeoutError,
  AuthenticationError,
  BufferTooShort,
  EOFError,
  BrokenPipeError,
  Empty,
  Full,
  BrokenBarrierError,
  RemoteError,
  WorkerLostError,
  MaybeEncodingError,
  OwnerDiedError,
  type WorkerLoss,
} from "./errors.ts";
