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

/** The largest message a manager server accepts by default (bytes): a larger request drops that client. */
export const MAX_MESSAGE_SIZE = 256 * 2 ** 20;
