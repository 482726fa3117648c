/**
 * The control socket's transport, in process with a fake handler: owner-only mode, framing,
 * bounds and timeouts, stale and live sockets at startup, cleanup, and the client's errors.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '@mailnode/logging';
import { ControlError, MAX_REQUEST_BYTES, parseRequest, type ControlRequest } from '../src/control/control-protocol.ts';
import { ControlServer, type ControlHandler } from '../src/control/control-server.ts';
import { NoNodeError, sendControlRequest } from '../src/control/control-client.ts';

const log = createLogger({ level: 'silent' });
let dir: string;
const servers: ControlServer[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailnode-ctl-'));
});
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
  await rm(dir, { recursive: true, force: true });
});

const echo: ControlHandler = async (request) => {
  if (request.command === 'ping') return { pid: process.pid, version: 'test', stateDir: dir };
  if (request.command === 'poll' && request.clients.includes('boom')) throw new Error('retriever exploded');
  if (request.command === 'poll' && request.clients.includes('nosuch')) throw new ControlError('unknown-client', 'no such retriever client: nosuch');
  return { echoed: request };
};

async function started(handler: ControlHandler = echo, idleTimeoutMs?: number, path = join(dir, 'mailnode.sock')): Promise<ControlServer> {
  const server = new ControlServer({ path, handler, log, idleTimeoutMs });
  await server.listen();
  servers.push(server);
  return server;
}

/** Raw bytes to the socket; everything it answers until it closes. */
function raw(path: string, data: string | Buffer, options: { halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      if (data.length) socket.write(data);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('control protocol', () => {
  it('parses the four commands and refuses anything else with a reason', () => {
    expect(parseRequest('{"command":"status"}')).toEqual({ command: 'status' });
    expect(parseRequest('{"command":"poll"}')).toEqual({ command: 'poll', clients: [] });
    expect(parseRequest('{"command":"poll","clients":["a","b","a"]}')).toEqual({ command: 'poll', clients: ['a', 'b'] });
    for (const [line, reason] of [
      ['not json', /not JSON/],
      ['[1]', /object/],
      ['{"command":"reboot"}', /unknown command "reboot"/],
      ['{"command":"poll","clients":"a"}', /list of client ids/],
      ['{"command":"poll","clients":[1]}', /list of client ids/],
    ] as const) {
      expect(() => parseRequest(line)).toThrow(reason);
    }
  });
});

describe('control server', () => {
  it('creates the socket owner-only (srw-------) and answers one JSON request per connection', async () => {
    const server = await started();
    const info = await stat(server.path);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
    const response = await sendControlRequest(server.path, { command: 'poll', clients: ['a'] });
    expect(response).toEqual({ ok: true, result: { echoed: { command: 'poll', clients: ['a'] } } });
    // The umask is back to what it was.
    expect(process.umask()).not.toBe(0o077);
  });

  it('answers bad requests with an error, never crashing, and keeps serving', async () => {
    const server = await started();
    expect(JSON.parse(await raw(server.path, 'hello\n'))).toEqual({ ok: false, error: 'request is not JSON', code: 'bad-request' });
    expect(JSON.parse(await raw(server.path, '{"command":"reboot"}\r\n'))).toMatchObject({ ok: false, code: 'bad-request' });
    expect(JSON.parse(await raw(server.path, '{"command":"poll","clients":["boom"]}\n'))).toEqual({ ok: false, error: 'retriever exploded', code: 'failed' });
    expect(JSON.parse(await raw(server.path, '{"command":"poll","clients":["nosuch"]}\n'))).toMatchObject({ ok: false, code: 'unknown-client' });
    // Only the first line counts.
    expect(JSON.parse(await raw(server.path, '{"command":"status"}\n{"command":"stop"}\n'))).toEqual({ ok: true, result: { echoed: { command: 'status' } } });
    expect((await sendControlRequest(server.path, { command: 'status' })).ok).toBe(true);
  });

  it('bounds the request line', async () => {
    const server = await started();
    const answer = await raw(server.path, Buffer.alloc(MAX_REQUEST_BYTES + 10, 'x'));
    expect(JSON.parse(answer)).toMatchObject({ ok: false, code: 'bad-request', error: expect.stringMatching(/longer than 65536 bytes/) });
  });

  it('answers a request sent without its newline when the client shuts down its side', async () => {
    const server = await started();
    expect(JSON.parse(await raw(server.path, '{"command":"status"}', { halfClose: true }))).toMatchObject({ ok: true });
    expect(await raw(server.path, '', { halfClose: true })).toBe('');
  });

  it('times out an idle connection with an error answer', async () => {
    const server = await started(echo, 200);
    const started_ = Date.now();
    expect(JSON.parse(await raw(server.path, '{"command":'))).toMatchObject({ ok: false, error: 'no request received in time' });
    expect(Date.now() - started_).toBeLessThan(3000);
  });

  it('lets a slow request run past the idle timeout', async () => {
    const server = await started(async () => new Promise((resolve) => setTimeout(() => resolve('slow'), 400)), 100);
    expect(await sendControlRequest(server.path, { command: 'status' })).toEqual({ ok: true, result: 'slow' });
  });

  it('removes the socket file on close and answers waiting requests that the node is shutting down', async () => {
    let release!: () => void;
    const server = await started(() => new Promise((resolve) => (release = () => resolve('late'))));
    const waiting = sendControlRequest(server.path, { command: 'poll', clients: [] });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    expect(existsSync(server.path)).toBe(false);
    expect(await waiting).toEqual({ ok: false, error: 'mailnode is shutting down', code: 'shutting-down' });
    release();
  });

  it('replaces a stale socket file left by a dead node', async () => {
    const path = join(dir, 'mailnode.sock');
    // A node killed with SIGKILL leaves its socket file behind (a clean close would remove it).
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve) => dead.stdout!.once('data', resolve));
    dead.kill('SIGKILL');
    await new Promise((resolve) => dead.once('exit', resolve));
    expect(existsSync(path)).toBe(true);
    await started(echo, undefined, path);
    expect((await sendControlRequest(path, { command: 'status' })).ok).toBe(true);
  });

  it('refuses to start when a node answers on the socket, naming its pid', async () => {
    const path = join(dir, 'mailnode.sock');
    await started(echo, undefined, path);
    const second = new ControlServer({ path, handler: echo, log });
    await expect(second.listen()).rejects.toThrow(new RegExp(`another mailnode is running on control socket ${path} \\(pid ${process.pid}`));
    expect((await sendControlRequest(path, { command: 'status' })).ok).toBe(true);
  });

  it('refuses a path that is not a socket, and a path too long for a unix socket', async () => {
    const file = join(dir, 'plain');
    await writeFile(file, 'x');
    await expect(new ControlServer({ path: file, handler: echo, log }).listen()).rejects.toThrow(/exists and is not a socket/);
    const long = join(dir, 'x'.repeat(120));
    await expect(new ControlServer({ path: long, handler: echo, log }).listen()).rejects.toThrow(/control\.socket .*too long for a unix socket/);
  });
});

describe('control client', () => {
  it('says no node runs when the socket is missing or stale (exit 69)', async () => {
    const path = join(dir, 'mailnode.sock');
    const missing = await sendControlRequest(path, { command: 'status' }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(NoNodeError);
    expect((missing as NoNodeError).exitCode).toBe(69);
    expect((missing as Error).message).toBe(`no mailnode running (no control socket at ${path})`);
    await writeFile(path, '');
    const stale = await sendControlRequest(path, { command: 'status' } as ControlRequest).catch((error: unknown) => error);
    expect((stale as NoNodeError).exitCode).toBe(69);
  });
});
