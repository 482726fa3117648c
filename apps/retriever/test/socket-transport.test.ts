/**
 * SocketTransport over a real loopback TCP connection to a tiny scripted net server: status
 * lines, multi-line bodies split across packets, the response timeout, the line-length cap,
 * connections closed or reset mid-reply, and the transcript masking.
 */
import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RetrievalError } from '@mailnode/pop3-client-session';
import { NO_TRANSCRIPT, type Transcript } from '@mailnode/logging';
import { SocketTransport } from '../src/socket-transport.ts';

const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

interface Pair {
  readonly transport: SocketTransport;
  /** The server side of the connection. */
  readonly peer: Socket;
  /** Everything the client sent so far. */
  received(): string;
  /** Writes the client made on its socket so far. */
  writes(): number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function pair(options: { timeoutMs?: number; lineLength?: number; transcript?: Transcript } = {}): Promise<Pair> {
  let peerResolve!: (socket: Socket) => void;
  const peerReady = new Promise<Socket>((resolve) => (peerResolve = resolve));
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => {});
    peerResolve(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port });
  sockets.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  client.setNoDelay(true);
  let writes = 0;
  const write = client.write.bind(client) as (...args: unknown[]) => boolean;
  client.write = ((...args: unknown[]) => {
    writes++;
    return write(...args);
  }) as typeof client.write;
  const peer = await peerReady;
  peer.setNoDelay(true);
  let received = '';
  peer.setEncoding('latin1');
  peer.on('data', (chunk: string) => (received += chunk));
  const transport = new SocketTransport(
    client,
    { timeoutMs: options.timeoutMs ?? 2000, lineLength: options.lineLength ?? 8192, transcript: options.transcript ?? NO_TRANSCRIPT, transcriptId: 't', tls: {} },
    false,
  );
  return { transport, peer, received: () => received, writes: () => writes };
}

/** Writes `data` in pieces of `size` bytes with a pause between, so they arrive as separate packets. */
async function dribble(socket: Socket, data: string | Buffer, size: number, pauseMs = 2): Promise<void> {
  const buffer = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
  for (let at = 0; at < buffer.length; at += size) {
    socket.write(buffer.subarray(at, at + size));
    await sleep(pauseMs);
  }
}

async function collect(transport: SocketTransport, maxBytes = 1 << 30): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const total = await transport.readBody((chunk) => void chunks.push(Buffer.from(chunk)), maxBytes);
  const data = Buffer.concat(chunks);
  expect(total).toBe(data.length);
  return data;
}

describe('SocketTransport: status lines', () => {
  it('parses +OK, -ERR with a response code, and continuations; sends commands with CRLF', async () => {
    const { transport, peer, received } = await pair();
    peer.write('+OK ready\r\n-ERR [SYS/TEMP] busy now\r\n+ VXNlcm5hbWU6\r\n+ok lower case\r\n');
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'ready' });
    expect(await transport.readStatus()).toEqual({ ok: false, code: 'SYS/TEMP', text: 'busy now' });
    expect(await transport.readStatus()).toEqual({ continuation: true, text: 'VXNlcm5hbWU6' });
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    transport.send('USER alice');
    transport.send('STAT');
    await sleep(50);
    expect(received()).toBe('USER alice\r\nSTAT\r\n');
    transport.close();
  });

  it('commands sent in one turn of the event loop leave in one write, in order', async () => {
    const { transport, received, writes } = await pair();
    for (let n = 1; n <= 32; n++) transport.send(`RETR ${n}`);
    transport.send('DELE 1');
    expect(writes()).toBe(0);
    await sleep(50);
    expect(writes()).toBe(1);
    expect(received()).toBe(`${Array.from({ length: 32 }, (_, i) => `RETR ${i + 1}\r\n`).join('')}DELE 1\r\n`);
    transport.send('QUIT');
    await sleep(50);
    expect(writes()).toBe(2);
    transport.close();
  });

  it('a status line split byte by byte across packets', async () => {
    const { transport, peer } = await pair();
    const reading = transport.readStatus();
    await dribble(peer, '+OK split across many packets\r\n', 1);
    expect(await reading).toEqual({ ok: true, text: 'split across many packets' });
    transport.close();
  });

  it('status lines split across chunks that arrived before anyone read (queued, not joined wholesale)', async () => {
    const { transport, peer } = await pair();
    await dribble(peer, '+OK he', 6, 20);
    await dribble(peer, 'llo\r\n+OK two\r', 13, 20);
    await dribble(peer, '\n-ERR three\r\n', 20, 20);
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'hello' });
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'two' });
    expect(await transport.readStatus()).toEqual({ ok: false, text: 'three' });
    transport.close();
  });

  it('an oversize status line spread over queued chunks → error, without waiting for more', async () => {
    const { transport, peer } = await pair({ lineLength: 512, timeoutMs: 5000 });
    for (let i = 0; i < 4; i++) await dribble(peer, `${i === 0 ? '+OK ' : ''}${'x'.repeat(300)}`, 400, 20);
    const started = Date.now();
    await expect(transport.readStatus()).rejects.toThrow(/longer than 512 bytes/);
    expect(Date.now() - started).toBeLessThan(2000);
    transport.close();
  });

  it('a body and the status line after it, over many queued chunks, read in order', async () => {
    const { transport, peer } = await pair();
    const body = Array.from({ length: 2000 }, (_, i) => `line ${i}\r\n`).join('');
    await dribble(peer, `${body}.\r\n+OK next\r\n`, 997, 1);
    await sleep(30);
    expect((await collect(transport)).toString('latin1')).toBe(body);
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'next' });
    transport.close();
  });

  it('a malformed status line is an error naming what came', async () => {
    const { transport, peer } = await pair();
    peer.write('HELLO I am not POP3\r\n');
    await expect(transport.readStatus()).rejects.toThrow(/malformed reply from server: "HELLO I am not POP3/);
    transport.close();
  });

  it('an oversize status line without a line end → error, without waiting for the rest', async () => {
    const { transport, peer } = await pair({ lineLength: 512, timeoutMs: 5000 });
    peer.write(`+OK ${'x'.repeat(4000)}`);
    const started = Date.now();
    await expect(transport.readStatus()).rejects.toThrow(/longer than 512 bytes/);
    expect(Date.now() - started).toBeLessThan(2000);
    transport.close();
  });

  it('an oversize status line that arrives complete with its CRLF is rejected too', async () => {
    const { transport, peer } = await pair({ lineLength: 512 });
    peer.write(`+OK ${'x'.repeat(4000)}\r\n+OK next\r\n`);
    // Let it all arrive before the client reads, so the line end is already in the buffer.
    await sleep(100);
    const outcome = await transport.readStatus().then(
      (status) => `accepted a ${JSON.stringify(status).length}-byte status`,
      (error: unknown) => (error as Error).message,
    );
    expect(outcome).toMatch(/longer than 512 bytes/);
    transport.close();
  });

  it('times out when the server says nothing', async () => {
    const { transport } = await pair({ timeoutMs: 300 });
    const started = Date.now();
    const error = await transport.readStatus().catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(error).toBeInstanceOf(RetrievalError);
    expect((error as Error).message).toMatch(/did not answer within/);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    transport.close();
  });

  it('a server that closes before answering → "closed the connection", at once', async () => {
    const { transport, peer } = await pair({ timeoutMs: 5000 });
    peer.end('+OK one\r\n');
    expect(await transport.readStatus()).toMatchObject({ ok: true, text: 'one' });
    const started = Date.now();
    await expect(transport.readStatus()).rejects.toThrow(/closed the connection/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('a connection reset → an error, not a hang', async () => {
    const { transport, peer } = await pair({ timeoutMs: 5000 });
    const reading = transport.readStatus();
    await sleep(20);
    peer.resetAndDestroy();
    const started = Date.now();
    await expect(reading).rejects.toThrow(/connection failed|closed the connection/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('the transcript gets commands with PASS masked, and the server lines', async () => {
    const seen: string[] = [];
    const transcript: Transcript = {
      client: (_id, line) => void seen.push(`C: ${line}`),
      server: (_id, line) => void seen.push(`S: ${line}`),
      note: () => {},
      close: async () => {},
    };
    const { transport, peer } = await pair({ transcript });
    transport.send('PASS hunter2');
    peer.write('+OK logged in\r\n');
    await transport.readStatus();
    expect(seen).toEqual(['C: PASS ****', 'S: +OK logged in']);
    expect(seen.join('\n')).not.toContain('hunter2');
    transport.close();
  });
});

describe('SocketTransport: multi-line bodies', () => {
  const text = 'From: a\r\nSubject: dots\r\n\r\n..leading dot\r\n.\r\nnot the end\r\n...\r\nlast\r\n';
  const stuffed = 'From: a\r\nSubject: dots\r\n\r\n...leading dot\r\n..\r\nnot the end\r\n....\r\nlast\r\n.\r\n';

  for (const size of [1, 2, 3, 7, 1000]) {
    it(`un-stuffs a body split into ${size}-byte packets, and keeps the pipelined reply after it`, async () => {
      const { transport, peer } = await pair();
      const writing = dribble(peer, `+OK body follows\r\n${stuffed}+OK after\r\n`, size, size < 4 ? 0 : 2);
      expect(await transport.readStatus()).toMatchObject({ ok: true });
      const data = await collect(transport);
      expect(data.toString('latin1')).toBe(text);
      expect(await transport.readStatus()).toEqual({ ok: true, text: 'after' });
      await writing;
      transport.close();
    });
  }

  it('the terminator split as "." | "\\r" | "\\n" in three packets', async () => {
    const { transport, peer } = await pair();
    peer.write('+OK\r\nline\r\n');
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    const reading = collect(transport);
    for (const piece of ['.', '\r', '\n+OK next\r\n']) {
      await sleep(20);
      peer.write(piece);
    }
    expect((await reading).toString('latin1')).toBe('line\r\n');
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'next' });
    transport.close();
  });

  const bigBody = () => {
    const line = `${'y'.repeat(70)}\r\n`;
    return line.repeat(Math.ceil((3 * 1024 * 1024) / line.length));
  };
  const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

  it('a large body (3 MB) arrives intact when the consumer keeps up', async () => {
    const { transport, peer } = await pair();
    const content = bigBody();
    peer.write(`+OK\r\n${content}.\r\n+OK after\r\n`);
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    const data = await collect(transport);
    expect(data.length).toBe(content.length);
    expect(sha(data)).toBe(sha(content));
    expect(await transport.readStatus()).toEqual({ ok: true, text: 'after' });
    transport.close();
  });

  it('a large body (3 MB) arrives intact when the consumer is slow (backpressure: > 1 MiB piles up meanwhile)', async () => {
    // A sink that waits (a slow disk: the PassThrough into the Maildir is full) lets more than
    // READ_HIGH_WATER arrive, so the transport pauses the socket. It must then go on with what
    // it holds, not wait for more bytes that can no longer come.
    const { transport, peer } = await pair({ timeoutMs: 1500 });
    const content = bigBody();
    peer.write(`+OK\r\n${content}.\r\n`);
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    const hash = createHash('sha256');
    let total = 0;
    let waited = false;
    await transport.readBody(async (chunk) => {
      total += chunk.length;
      hash.update(chunk);
      if (!waited) {
        waited = true;
        await sleep(200);
      }
    }, 1 << 30);
    expect(total).toBe(content.length);
    expect(hash.digest('hex')).toBe(sha(content));
    transport.close();
  });

  it('connection closed mid-body → error "closed the connection"', async () => {
    const { transport, peer } = await pair({ timeoutMs: 5000 });
    peer.write('+OK\r\nFrom: a\r\n\r\nhalf a mess');
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    const reading = collect(transport);
    await sleep(20);
    peer.end();
    await expect(reading).rejects.toThrow(/closed the connection/);
  });

  it('times out when a body stops mid-way', async () => {
    const { transport, peer } = await pair({ timeoutMs: 300 });
    peer.write('+OK\r\nFrom: a\r\n\r\nand then nothing');
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    const started = Date.now();
    await expect(collect(transport)).rejects.toThrow(/did not answer within/);
    expect(Date.now() - started).toBeLessThan(1500);
    transport.close();
  });

  it('an oversize line inside a body → error', async () => {
    const { transport, peer } = await pair({ lineLength: 1000 });
    peer.write(`+OK\r\nFrom: a\r\n\r\n${'z'.repeat(5000)}\r\n.\r\n`);
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    await expect(collect(transport)).rejects.toThrow(/line longer than 1000 bytes/);
    transport.close();
  });

  it('a body over maxBytes → error naming the limit', async () => {
    const { transport, peer } = await pair();
    peer.write(`+OK\r\n${'a'.repeat(60)}\r\n`.repeat(1) + `${'b'.repeat(60)}\r\n`.repeat(100) + '.\r\n');
    expect(await transport.readStatus()).toMatchObject({ ok: true });
    await expect(collect(transport, 2000)).rejects.toThrow(/larger than 2000 bytes/);
    transport.close();
  });
});
