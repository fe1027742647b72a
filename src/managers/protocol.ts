/*
 * The manager wire protocol, both directions, in one place. Every message
 * is one Connection message (a socket after the HMAC handshake, or a
 * shared-memory Pipe the client hands over that socket), so framing and
 * the size cap are the Listener's. Requests carry an id and the replies
 * echo it, so a client keeps any number of calls in flight on one
 * connection and the server answers each as soon as it is done (a blocked
 * `acquire` does not hold up a `get` behind it).
 *
 * Talks to: proxy.ts (client side), ../managers.ts (server side).
 */
import type { Connection } from "../connection.ts";

/** What a proxy needs to reach its referent, besides the manager's address and key. */
export interface TokenState {
  typeid: string;
  id: string;
  /** The methods the referent exposes (what the proxy offers). */
  exposed: string[];
}

export type Request =
  | [id: number, op: "create", typeid: string, args: unknown[]]
  | [id: number, op: "call", object: string, method: string, args: unknown[]]
  /** Serve calls over this Pipe end from now on (a local client's fast path). */
  | [id: number, op: "pipe", end: Connection]
  | [id: number, op: "shutdown"];

export const Outcome = {
  Return: 0,
  Error: 1,
  /** The value is a TokenState: the result is a new managed object (methodToTypeid). */
  Proxy: 2,
} as const;

export type Reply = [id: number, outcome: (typeof Outcome)[keyof typeof Outcome], value: unknown];

/** A value JSON carries exactly (no -0, NaN, Infinity, undefined, bigint, objects). */
function isPlain(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    default:
      return value === null;
  }
}

function isPlainArray(value: unknown): boolean {
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype) return false;
  for (let i = 0; i < value.length; i++) if (!isPlain(value[i])) return false;
  return true;
}

/** A request or reply as it goes on a connection: JSON text when it can be, else the array (a trailing undefined is dropped: it reads back as undefined). */
export function pack<M extends Request | Reply>(message: M): M | string {
  let end = message.length;
  if (message[end - 1] === undefined) end--;
  for (let i = 0; i < end; i++) {
    const item: unknown = message[i];
    if (!isPlain(item) && !isPlainArray(item)) return message;
  }
  return JSON.stringify(end === message.length ? message : message.slice(0, end));
}

/** What pack() sent. */
export function unpack<M extends Request | Reply>(received: M | string): M {
  return typeof received === "string" ? (JSON.parse(received) as M) : received;
}

/** The largest message a manager server accepts by default (bytes): a larger request drops that client. */
export const MAX_MESSAGE_SIZE = 256 * 2 ** 20;
