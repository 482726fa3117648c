/** The command side of the control socket: one request, one response. */
import { createConnection } from 'node:net';
import { encodeRequest, MAX_REQUEST_BYTES, parseResponse, type ControlRequest, type ControlResponse } from './control-protocol.ts';
import { checkSocketPath } from './socket-path.ts';

/** Nothing (or nothing of ours) to talk to; `exitCode` follows sysexits.h. */
export class NoNodeError extends Error {
  override readonly name = 'NoNodeError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const EX_UNAVAILABLE = 69;
export const EX_NOPERM = 77;

/** Responses are small except a status of many clients; still bounded. */
const MAX_RESPONSE_BYTES = 64 * MAX_REQUEST_BYTES;

export function sendControlRequest(path: string, request: ControlRequest, options: { timeoutMs?: number } = {}): Promise<ControlResponse> {
  checkSocketPath(path);
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      action();
    };
    const timeoutMs = options.timeoutMs;
    if (timeoutMs) socket.setTimeout(timeoutMs, () => settle(() => reject(new Error(`no answer on ${path} within ${timeoutMs / 1000} s`))));
    socket.on('connect', () => socket.write(encodeRequest(request)));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) return settle(() => reject(new Error(`answer on ${path} too long`)));
      chunks.push(chunk);
    });
    socket.on('end', () =>
      settle(() => {
        const text = Buffer.concat(chunks).toString('utf8').trim();
        if (!text) return reject(new Error(`the node closed the control connection without answering (${path})`));
        try {
          resolve(parseResponse(text));
        } catch {
          reject(new Error(`not a mailnode answer on ${path}: ${JSON.stringify(text.slice(0, 80))}`));
        }
      }),
    );
    socket.on('error', (error: NodeJS.ErrnoException) => settle(() => reject(connectError(path, error))));
  });
}

function connectError(path: string, error: NodeJS.ErrnoException): Error {
  switch (error.code) {
    case 'ENOENT':
      return new NoNodeError(`no mailnode running (no control socket at ${path})`, EX_UNAVAILABLE);
    case 'ECONNREFUSED':
      return new NoNodeError(`no mailnode running (stale control socket at ${path}: nothing listens)`, EX_UNAVAILABLE);
    case 'ENOTSOCK':
      return new NoNodeError(`no mailnode running (${path} is not a socket)`, EX_UNAVAILABLE);
    case 'EACCES':
    case 'EPERM':
      return new NoNodeError(`cannot connect to the control socket ${path}: permission denied (run this as the node's user)`, EX_NOPERM);
    default:
      return new Error(`control socket ${path}: ${error.code ?? error.message}`);
  }
}
