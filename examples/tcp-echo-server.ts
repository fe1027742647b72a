// Mirrors seed 003_d33f3412ca5112a8.txt §2.2.4 "多进程实现TCP服务端并发" (2) "TCP服务端并发": the server accepts,
// hands each connection to a new Process(target=work, args=(conn,)), and the
// child answers every message upper-cased until the client closes.
// Shows: one process per TCP connection. A net.Socket passed in `args` is
// handed to the child as an OS handle (the parent's copy is closed), so
// three clients connected at once are all served at once, each by its own
// pid. Unlike the seed's interactive client, this example runs its own
// client (three connections to 127.0.0.1 on a free port, two messages
// each), prints the replies, then closes the server and ends by itself.
//
// Run: node --import tsx examples/tcp-echo-server.ts
import net from "node:net";
import { once } from "node:events";
import { Process, isMain } from "multiproc";

// The child's side: serve one connection until the client closes it.
export function work(conn: net.Socket): void {
  console.log(`[child ${process.pid}] serving a connection`);
  conn.on("data", (data) => {
    const text = data.toString("utf8");
    console.log(`[child ${process.pid}] client sent: ${text}`);
    conn.write(text.toUpperCase());
  });
  conn.on("end", () => conn.end()); // the client closed: close our side; the child then exits
}

// One client: connect, send each message and wait for its reply, then close.
async function client(port: number, messages: string[]): Promise<string[]> {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  const replies: string[] = [];
  for (const message of messages) {
    socket.write(message);
    const [reply] = (await once(socket, "data")) as [Buffer];
    replies.push(reply.toString("utf8"));
  }
  socket.end();
  await once(socket, "close");
  return replies;
}

if (isMain(import.meta)) {
  // No pauseOnConnect needed: start() stops this process reading from a socket
  // it hands over, and bytes already read travel with it to the child.
  const server = net.createServer((conn) => {
    const p = new Process({ target: work, args: [conn] });
    p.start();
    console.log(`[server ${process.pid}] accepted a connection, handed it to ${p.name} (pid ${p.pid})`);
  });
  server.listen(0, "127.0.0.1"); // port 0: the OS picks a free port
  await once(server, "listening");
  const { port } = server.address() as net.AddressInfo;
  console.log(`[server ${process.pid}] listening on 127.0.0.1:${port}`);

  // Three clients connected at the same time: a serial server would serve one at a time.
  const conversations = [
    ["hello", "how are you"],
    ["multiproc", "one process per connection"],
    ["abc", "xyz"],
  ];
  const replies = await Promise.all(conversations.map((messages) => client(port, messages)));
  replies.forEach((r, i) => console.log(`[client ${i + 1}] replies: ${r.map((s) => JSON.stringify(s)).join(", ")}`));

  server.close(); // no more connections; the program ends once the children have exited
  await once(server, "close");
  console.log(`[server ${process.pid}] closed`);
}
