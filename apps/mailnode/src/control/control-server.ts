/**
 * The node's end of the control socket: a unix socket only its owner can connect to, one JSON
 * request per connection (control-protocol.ts), answered by a handler.
 *
 * Permissions: the socket is bound with umask 077, so the kernel creates it owner-only in the
 * bind() call itself; no moment exists in which another user could connect. (Node binds
 * synchronously inside listen(), so the umask is back to normal before any other JavaScript
 * runs; 077 is harmless for anything a thread-pool thread might create meanwhile: our files and
 * directories are private anyway.) A chmod to 0600 follows for a conventional srw------- mode.
 * Linux checks write permission on the socket file for connect(), so that is the access check;
 * the state directory (0700 when mailnode created it) is a second fence when the socket lives in it.
 */
import { lstatSync, statSync, unlinkSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '@mailnode/logging';
import { StartupError } from '../startup-error.ts';
import {
  ControlError,
  encodeRequest,
  encodeResponse,
  IDLE_TIMEOUT_MS,
  MAX_REQUEST_BYTES,
  parseRequest,
  parseResponse,
  type ControlRequest,
  type ControlResponse,
  type PingResult,
} from './control-protocol.ts';
import { checkSocketPath } from './socket-path.ts';

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

export interface ControlServerOptions {
  readonly path: string;
  readonly handler: ControlHandler;
  readonly log: Logger;
  /** Overrides IDLE_TIMEOUT_MS (tests). */
  readonly idleTimeoutMs?: number;
}

export class ControlServer {
  private server: Server | undefined;
  private inode: number | undefined;
  private closing = false;
  private readonly open = new Set<Socket>();
  private readonly onExit = () => this.unlinkIfOurs();

  constructor(private readonly options: ControlServerOptions) {}

  get path(): string {
    return this.options.path;
  }

  /** Clears a stale socket file, refuses when another node answers on it, then listens owner-only. */
  async listen(): Promise<void> {
    const { path } = this.options;
    checkSocketPath(path);
    await clearStaleSocket(path);
    // allowHalfOpen: a client may send its request and shut down its side before the answer.
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    const previous = process.umask(0o077);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      throw new StartupError(`control.socket ${path}: cannot listen (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    } finally {
      process.umask(previous);
    }
    await chmod(path, 0o600);
    this.inode = statSync(path).ino;
    this.server = server;
    server.on('error', (error) => this.options.log.error({ component: 'control', err: error.message }, 'control socket error'));
    process.on('exit', this.onExit);
  }

  /** Stops accepting and removes the socket file; requests already read still get their answers. */
  async stopAccepting(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const server = this.server;
    this.unlinkIfOurs();
    process.off('exit', this.onExit);
    // Not awaited: close() only calls back once every open connection has ended, and a poll
    // in progress still has to be answered (or told about the shutdown by close()).
    server?.close();
  }

  /** The end of shutdown: connections still waiting for an answer are told so and closed. */
  async close(): Promise<void> {
    await this.stopAccepting();
    for (const socket of this.open) this.respond(socket, { ok: false, error: 'mailnode is shutting down', code: 'shutting-down' });
  }

  private accept(socket: Socket): void {
    this.open.add(socket);
    socket.on('close', () => this.open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, () =>
      this.respond(socket, { ok: false, error: 'no request received in time', code: 'bad-request' }),
    );
    let buffered = '';
    let done = false;
    const take = (line: string) => {
      done = true;
      socket.setTimeout(0); // a poll may take minutes: the retriever's own timeouts bound it
      void this.answer(socket, line);
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (done) return; // one request per connection: anything after it is ignored
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline >= 0) return take(buffered.slice(0, newline).replace(/\r$/, ''));
      if (Buffer.byteLength(buffered) > MAX_REQUEST_BYTES) {
        done = true;
        this.respond(socket, { ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes`, code: 'bad-request' });
      }
    });
    // A request without its newline still counts when the client half-closes after it.
    socket.on('end', () => {
      if (!done && buffered.trim()) take(buffered);
      else if (!done) socket.end();
    });
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let response: ControlResponse;
    try {
      if (this.closing) throw new ControlError('shutting-down', 'mailnode is shutting down');
      const request = parseRequest(line);
      response = { ok: true, result: await this.options.handler(request) };
    } catch (error) {
      response = error instanceof ControlError
        ? { ok: false, error: error.message, code: error.code }
        : { ok: false, error: (error as Error).message ?? String(error), code: 'failed' };
      if (!(error instanceof ControlError)) this.options.log.warn({ component: 'control', err: (error as Error).message }, 'control request failed');
    }
    this.respond(socket, response);
  }

  /** One response, then the connection ends (at most one response per connection). */
  private respond(socket: Socket, response: ControlResponse): void {
    if (socket.destroyed || socket.writableEnded) return;
    socket.end(encodeResponse(response));
    this.open.delete(socket);
    // A client that never closes its side is not kept around.
    socket.setTimeout(this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, () => socket.destroy());
  }

  private unlinkIfOurs(): void {
    if (this.inode === undefined) return;
    try {
      // Another node may have replaced a socket we thought ours: leave that one alone.
      if (lstatSync(this.options.path).ino === this.inode) unlinkSync(this.options.path);
    } catch {
      // gone already
    }
    this.inode = undefined;
  }
}

/**
 * A socket file left by a node that died is removed; one that answers belongs to a running node
 * (the same socket path configured for two state dirs), and starting would steal its socket.
 */
async function clearStaleSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StartupError(`control.socket ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  if (!stats.isSocket()) throw new StartupError(`control.socket ${path}: exists and is not a socket; remove it or choose another path`);
  const other = await probeSocket(path);
  if (other.kind === 'mailnode') {
    throw new StartupError(
      `another mailnode is running on control socket ${path} (pid ${other.who.pid}, state dir ${other.who.stateDir}); stop it with \`mailnode stop\` or set control.socket`,
    );
  }
  if (other.kind === 'in-use') throw new StartupError(`control.socket ${path}: in use by another process (${other.why}); stop it or set control.socket`);
  await unlink(path).catch(() => {});
}

type Probe = { kind: 'stale' } | { kind: 'mailnode'; who: PingResult } | { kind: 'in-use'; why: string };

/** Asks whoever listens on `path` who it is; stale when nothing listens (ECONNREFUSED, ENOENT). */
function probeSocket(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    let text = '';
    const finish = (probe: Probe) => {
      socket.destroy();
      resolve(probe);
    };
    socket.setTimeout(2000, () => finish({ kind: 'in-use', why: 'it accepts connections but does not answer' }));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(encodeRequest({ command: 'ping' })));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      try {
        const response = parseResponse(text.trim());
        if (response.ok) return finish({ kind: 'mailnode', who: response.result as PingResult });
      } catch {
        // not our protocol
      }
      finish({ kind: 'in-use', why: 'it is not a mailnode control socket' });
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Refused or gone: stale. Anything else (EACCES: another user's socket) is not ours to remove.
      if (error.code === 'ECONNREFUSED' || error.code === 'ENOENT') finish({ kind: 'stale' });
      else finish({ kind: 'in-use', why: `cannot connect: ${error.code ?? error.message}` });
    });
  });
}
