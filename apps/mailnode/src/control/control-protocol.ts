/**
 * The control socket's wire format: newline-delimited JSON, one request and one response per
 * connection.
 *
 *   → {"command":"poll","clients":["a","b"]}   (clients optional: all of them)
 *   → {"command":"status"} | {"command":"stop"} | {"command":"ping"}
 *   ← {"ok":true,"result":...}  or  {"ok":false,"error":"...","code":"unknown-client"}
 */
import type { ClientStatus, PollResult } from '@mailnode/retriever';
import type { ListenerStatus } from '@mailnode/pop3-server';

/** A request line longer than this is refused: the socket is local, but nothing is unbounded. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** A control connection that sends no complete request within this long is answered and closed. */
export const IDLE_TIMEOUT_MS = 10_000;

export type ControlRequest =
  | { readonly command: 'poll'; readonly clients: string[] }
  | { readonly command: 'status' }
  | { readonly command: 'stop' }
  | { readonly command: 'ping' };

/** Why a request failed, for the client's exit status (64 for the first two). */
export type ControlErrorCode = 'bad-request' | 'unknown-client' | 'shutting-down' | 'failed';

export type ControlResponse =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: string; readonly code: ControlErrorCode };

/** A request the node answers with `{ ok: false }` (anything else thrown counts as 'failed'). */
export class ControlError extends Error {
  override readonly name = 'ControlError';
  constructor(
    readonly code: ControlErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Who answers on the socket: `ping`, also used by a starting node to name the one already running. */
export interface PingResult {
  readonly pid: number;
  readonly version: string;
  readonly stateDir: string;
}

export interface StatusResult extends PingResult {
  readonly startedAt: string;
  readonly now: string;
  readonly clients: ClientStatus[];
  /** Set instead of a client list when the retriever could not report. */
  readonly clientsError?: string;
  readonly listeners: ListenerStatus[];
}

export interface PollResponse {
  readonly results: PollResult[];
}

export interface StopResult {
  readonly pid: number;
}

const COMMANDS = ['poll', 'status', 'stop', 'ping'] as const;

/** One request line (without its newline) → a request, or a ControlError('bad-request') saying what is wrong. */
export function parseRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new ControlError('bad-request', 'request is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ControlError('bad-request', 'request must be a JSON object');
  const { command, clients } = value as { command?: unknown; clients?: unknown };
  if (typeof command !== 'string' || !(COMMANDS as readonly string[]).includes(command)) {
    throw new ControlError('bad-request', `unknown command ${JSON.stringify(command)} (one of ${COMMANDS.join(', ')})`);
  }
  if (command !== 'poll') return { command } as ControlRequest;
  if (clients === undefined) return { command, clients: [] };
  if (!Array.isArray(clients) || !clients.every((id) => typeof id === 'string')) throw new ControlError('bad-request', 'clients must be a list of client ids');
  return { command, clients: [...new Set(clients as string[])] };
}

export function encodeResponse(response: ControlResponse): string {
  return `${JSON.stringify(response)}\n`;
}

export function encodeRequest(request: ControlRequest): string {
  return `${JSON.stringify(request)}\n`;
}

/** A response line from the node; anything else is reported as a broken answer. */
export function parseResponse(line: string): ControlResponse {
  const value = JSON.parse(line) as ControlResponse;
  if (typeof value !== 'object' || value === null || typeof value.ok !== 'boolean') throw new Error('not a control response');
  return value;
}
