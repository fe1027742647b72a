// A Pipe between two processes (the seeds name Pipe beside Queue, 000 §五):
// the child echoes every message back upper-cased until the parent closes
// its end; the child then sees EOFError and returns. Shows send/recv of
// objects, sendBytes/recvBytes, poll, and closing the child's end in the
// parent right after start().
//
// Run: node --import tsx examples/pipe-echo.ts
import { EOFError, Pipe, Process, isMain, type Connection } from "multiproc";

export async function echo(conn: Connection<unknown>): Promise<void> {
  for (;;) {
    let message: unknown;
    try {
      message = await conn.recv();
    } catch (err) {
      if (err instanceof EOFError) break; // the parent closed its end
      throw err;
    }
    conn.send(typeof message === "string" ? message.toUpperCase() : message instanceof Uint8Array ? message.reverse() : { echoed: message, by: process.pid });
  }
  console.log(`child ${process.pid}: the other end is closed, bye`);
}

if (isMain(import.meta)) {
  const [parentEnd, childEnd] = Pipe();
  const child = new Process({ target: echo, args: [childEnd] });
  child.start();
  childEnd.close(); // the parent's copy of the child's end is not needed here
  console.log(`poll before sending: ${await parentEnd.poll()}`);
  for (const message of ["hello", "from the parent", { n: 42, at: new Date(0) }]) {
    parentEnd.send(message);
    console.log("sent", message, "got back", await parentEnd.recv());
  }
  parentEnd.sendBytes(new TextEncoder().encode("bytes"));
  console.log(`poll after the child answered: ${await parentEnd.poll(5000)}`);
  console.log("bytes reversed:", new TextDecoder().decode(await parentEnd.recvBytes()));
  parentEnd.close();
  await child.join();
  console.log(`child exit code ${child.exitCode}`);
}
