// Target functions for the children of bench/node/queues.mjs. Library objects arrive as arguments.

/** Wait for go, then put 0..n-1 (await put: the form most code uses). */
export async function produce(queue, n, ready, go) {
  ready.release();
  await go.wait();
  for (let i = 0; i < n; i++) await queue.put(i);
}

/** The same with SimpleQueue's put, which returns nothing. */
export async function produceSimple(queue, n, ready, go) {
  ready.release();
  await go.wait();
  for (let i = 0; i < n; i++) queue.put(i);
}

/** Wait for go, then send 0..n-1 on a Pipe end. */
export async function sendInts(conn, n, ready, go) {
  ready.release();
  await go.wait();
  for (let i = 0; i < n; i++) conn.send(i);
}

/** Wait for go, then put `count` copies of a `size`-byte block. */
export async function produceBlocks(queue, count, size, ready, go) {
  const block = new Uint8Array(size).fill(1);
  ready.release();
  await go.wait();
  for (let i = 0; i < count; i++) await queue.put(block);
}

/** Get n items, then put their sum on results. */
export async function consume(queue, n, results, ready, go) {
  ready.release();
  await go.wait();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await queue.get();
  await results.put(sum);
}

/** Echo `rounds` messages, with the blocking forms or the async ones. */
export async function echo(conn, rounds, mode) {
  if (mode === "sync") {
    for (let i = 0; i < rounds; i++) conn.send(conn.recvSync());
  } else {
    for (let i = 0; i < rounds; i++) conn.send(await conn.recv());
  }
}
