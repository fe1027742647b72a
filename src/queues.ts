/*
 * Queues shared by any processes and threads (Python's queues.py): Queue,
 * SimpleQueue and JoinableQueue, each a view of one shared-memory channel
 * (channel.ts). Unlike Python's there is no pipe and no feeder thread:
 * `put` writes the message into shared memory before it returns, so a
 * process that put items and ended loses nothing and never waits at exit
 * for a reader ("joining processes that use queues" cannot deadlock), and a
 * queue can be handed to any process at any time, not only at start.
 *
 * Talks to: channel.ts, reduction.ts (messages; queues travel by reference).
 */
import { Channel, type ChannelState } from "./channel.ts";
import { Empty, Full, TimeoutError } from "./errors.ts";
import { abandon, decodeMessage, decodeMessageSync, encodeMessage, reduce, travelling, type Message, type Reduction, type Travel } from "./reduction.ts";
import { deadlineOf, runAsync, runSync } from "./synchronize.ts";
import { handled, parseWait, type Wait } from "./waiting.ts";

/** How long put/get may wait: ms, or `{ block, timeout, signal }` (DESIGN 1b). */
/** @deprecated The one waiting type is `Wait`. */
export type QueueWait = Wait;

const DONE = Promise.resolve();

/** Internal constructor option: re-open a queue that arrived from another process. */
const onChannel = Symbol("multiproc.onChannel");
type Reopen = { [onChannel]?: Channel };

function checkMaxsize(maxsize: number): number {
  if (typeof maxsize !== "number" || !Number.isInteger(maxsize)) throw new TypeError(`maxsize must be an integer, got ${String(maxsize)}`);
  if (maxsize > 0x7fffffff) throw new RangeError(`maxsize must be at most ${0x7fffffff}, got ${maxsize}`);
  return maxsize;
}

function full(timeout: number | null): Full {
  return new Full(timeout === null || timeout <= 0 ? "the queue is full" : `the queue stayed full for ${timeout} ms`);
}

function empty(timeout: number | null): Empty {
  return new Empty(timeout === null || timeout <= 0 ? "the queue is empty" : `the queue stayed empty for ${timeout} ms`);
}

/** What every queue shares: the channel, closing, sizes, and reading. */
abstract class QueueBase<T> {
  readonly #channel: Channel;
  #closed = false;
  readonly #travel: Travel<ChannelState>;

  protected constructor(travel: Travel<ChannelState>, channel: Channel) {
    this.#travel = travel;
    this.#channel = channel;
    channel.use();
  }

  protected channel(): Channel {
    if (this.#closed) throw new Error(`${this.#travel.type} is closed`);
    return this.#channel;
  }

  /** Remove and return an item, waiting for one as `wait` says; Empty when none came. */
  get(wait?: Wait): Promise<T> {
    try {
      const channel = this.channel();
      // Checked before the fast path: a bad argument fails whether or not an item is there.
      const { block, timeout, signal } = parseWait(wait);
      const message = channel.tryRead();
      if (message) return decodeMessage(message) as Promise<T>;
      if (!block) throw empty(null);
      return handled(
        runAsync(channel.readSteps(deadlineOf(timeout), false, false), signal).then((arrived) => {
          if (!arrived) throw empty(timeout);
          return decodeMessage(arrived) as Promise<T>;
        }),
      );
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** The blocking form of get, for code that may block its thread. */
  getSync(wait?: Wait): T {
    const channel = this.channel();
    const { block, timeout } = parseWait(wait);
    const message = block ? runSync(channel.readSteps(deadlineOf(timeout), false, true)) : channel.tryRead();
    if (!message) throw empty(block ? timeout : null);
    return decodeMessageSync(message) as T;
  }

  /** get without waiting: Empty if there is nothing. */
  getNowait(): T {
    return this.getSync({ block: false });
  }

  /** How many items are in the queue (approximate while others use it). */
  qsize(): number {
    return this.channel().count();
  }

  empty(): boolean {
    return this.channel().count() === 0;
  }

  /**
   * This process will use the queue no more; put and get then throw. Items
   * already put stay for other processes. The queue's memory mapping and
   * descriptor in this process go at once (after a get or put still waiting
   * here, or once a child it was sent to has it open), not at garbage
   * collection. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#channel.unuse();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Python's join_thread: there is no feeder thread to wait for (put has written the item already). */
  joinThread(): void {}

  /** Python's cancel_join_thread: nothing to cancel, nothing can be lost at exit. */
  cancelJoinThread(): void {}

  protected encode(item: T): Message {
    return encodeMessage(item, "item");
  }

  [reduce](): Reduction {
    const reduction = this.#travel(this.channel().state());
    this.#channel.lend();
    return reduction;
  }

  /** The receiver of a reduction has the queue open, or is gone: this process's descriptor is no longer needed for it. */
  [abandon](): void {
    this.#channel.giveBack();
  }
}

/** A multi-producer, multi-consumer FIFO queue across processes (Python's multiprocessing.Queue). */
export class Queue<T = unknown> extends QueueBase<T> {
  /** `maxsize` <= 0: unbounded, and put never waits. */
  constructor(maxsize = 0, options: Reopen = {}) {
    super(new.target === JoinableQueue ? joinableQueueTravel : queueTravel, options[onChannel] ?? Channel.create(checkMaxsize(maxsize)));
  }

  get maxsize(): number {
    return this.channel().maxsize;
  }

  /** Put an item, waiting for room (bounded queues) as `wait` says; Full when none came. */
  put(item: T, wait?: Wait): Promise<void> {
    try {
      const channel = this.channel();
      const { block, timeout, signal } = parseWait(wait);
      const message = this.encode(item);
      if (channel.tryWrite(message)) return DONE;
      if (!block) throw full(null);
      return handled(
        runAsync(channel.writeSteps(message, deadlineOf(timeout)), signal).then((written) => {
          if (!written) throw full(timeout);
        }),
      );
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  /** The blocking form of put. */
  putSync(item: T, wait?: Wait): void {
    const channel = this.channel();
    const message = this.encode(item);
    const { block, timeout } = parseWait(wait);
    if (channel.tryWrite(message)) return;
    if (!block || !runSync(channel.writeSteps(message, deadlineOf(timeout)))) throw full(block ? timeout : null);
  }

  /** put without waiting: Full if there is no room. */
  putNowait(item: T): void {
    this.putSync(item, { block: false });
  }

  full(): boolean {
    return this.channel().full();
  }

  override toString(): string {
    return `<${this.constructor.name} maxsize=${this.maxsize}>`;
  }
}

/** A Queue that counts unfinished items: consumers call taskDone(), join() waits for all (Python's JoinableQueue). */
export class JoinableQueue<T = unknown> extends Queue<T> {
  /** Mark one item taken with get as processed. Throws if called more times than items were put. */
  taskDone(): void {
    if (!this.channel().taskDone()) throw new RangeError("task_done() called too many times");
  }

  /** Resolves once every item put has been marked done; TimeoutError after `timeout`. */
  join(wait?: Wait): Promise<void> {
    try {
      const channel = this.channel();
      const { timeout, signal } = parseWait(wait);
      return handled(
        runAsync(channel.joinSteps(deadlineOf(timeout)), signal).then((done) => {
          if (!done) throw new TimeoutError(`${channel.unfinished()} items still unfinished after ${timeout} ms`);
        }),
      );
    } catch (err) {
      return handled(Promise.reject(err));
    }
  }

  joinSync(timeout?: number | null): void {
    const channel = this.channel();
    const { timeout: limit } = parseWait(timeout);
    if (!runSync(channel.joinSteps(deadlineOf(limit)))) throw new TimeoutError(`${channel.unfinished()} items still unfinished after ${limit} ms`);
  }
}

/** An unbounded queue with only put, get and empty (Python's SimpleQueue); put never waits. */
export class SimpleQueue<T = unknown> extends QueueBase<T> {
  constructor(options: Reopen = {}) {
    super(simpleQueueTravel, options[onChannel] ?? Channel.create(0));
  }

  put(item: T): void {
    this.channel().tryWrite(this.encode(item), false);
  }

  override toString(): string {
    return "<SimpleQueue>";
  }
}

const queueTravel = travelling("Queue", import.meta.url, (state: ChannelState) => new Queue(0, { [onChannel]: Channel.open(state) }));
const joinableQueueTravel = travelling("JoinableQueue", import.meta.url, (state: ChannelState) => new JoinableQueue(0, { [onChannel]: Channel.open(state) }));
const simpleQueueTravel = travelling("SimpleQueue", import.meta.url, (state: ChannelState) => new SimpleQueue({ [onChannel]: Channel.open(state) }));
