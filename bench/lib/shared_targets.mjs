// Target functions for the children of bench/node/locks.mjs and bench/node/shared_memory.mjs.
// A child imports this module to find its target: it imports nothing, and the library objects
// it works on (locks, events, values, arrays) arrive as arguments.

/**
 * One of the two contenders of "Lock contended 2×200k": tell the parent it is up (ready), then per round
 * wait for go, do n × (acquire, value += 1, release), and tell the parent (done); return once stop is set.
 * mode "sync": acquireSync(); "async": await acquire(). The idle wait for go is async in both.
 */
export async function contend(value, lock, n, mode, ready, go, done, stop) {
  ready.release();
  for (;;) {
    await go.acquire();
    if (stop.isSet()) return;
    if (mode === "sync") {
      for (let i = 0; i < n; i++) {
        lock.acquireSync();
        value.value += 1;
        lock.release();
      }
    } else {
      for (let i = 0; i < n; i++) {
        await lock.acquire();
        value.value += 1;
        lock.release();
      }
    }
    done.release();
  }
}

/**
 * The far end of the Event ping-pong: set pong once to say it is up; then wait for ping, clear it,
 * write the time (process.hrtime, the monotonic clock every process shares) into stamp and set pong;
 * return once stop is set.
 */
export async function echoAsync(ping, pong, stamp, stop) {
  pong.set();
  for (;;) {
    await ping.wait();
    ping.clear();
    if (stop.isSet()) return;
    stamp.value = process.hrtime.bigint();
    pong.set();
  }
}

/** The same with the blocking waitSync(). */
export function echoSync(ping, pong, stamp, stop) {
  pong.set();
  for (;;) {
    ping.waitSync();
    ping.clear();
    if (stop.isSet()) return;
    stamp.value = process.hrtime.bigint();
    pong.set();
  }
}

/**
 * The child of "10M doubles": write view[i] = i through the shared array's typed-array view (timed), then
 * bulk-copy the same values into it with view.set() and, for reference, into a local Float64Array (both
 * destinations already written once, both copies timed). Leaves view[i] === i; the times go to timings
 * (a RawArray("d", 3): loop write ms, view.set ms, local set ms).
 */
export function fillArray(array, timings) {
  const view = array.view;
  const n = view.length;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) view[i] = i;
  timings.view[0] = performance.now() - t0;

  const source = new Float64Array(n);
  for (let i = 0; i < n; i++) source[i] = i;
  t0 = performance.now();
  view.set(source);
  timings.view[1] = performance.now() - t0;

  const local = new Float64Array(n);
  local.fill(-1);
  t0 = performance.now();
  local.set(source);
  timings.view[2] = performance.now() - t0;
}
