/**
 * A loopback TCP relay in front of a POP3 server that a test controls:
 *
 *  - cut(): destroys every relayed connection at once and stops listening, so new connections
 *    are refused (ECONNREFUSED) — the remote server has disappeared;
 *  - restore(): listens again on the same port;
 *  - retarget(port): later connections go to another upstream port (a restarted server);
 *  - setRate(bytesPerSecond): limits server → client bandwidth (undefined: unlimited), so a
 *    download lasts long enough to be interrupted;
 *  - counts: connections, bytes relayed server → client, and sessions open at once (now and
 *    the maximum), with the time of every open and close.
 *
 * A session counts as open from the relay's accept (counted after the I/O callbacks of that loop
 * turn) until the client's FIN/close (the first of 'end', 'close', 'error' on the client side), so
 * a client that closes one connection and then opens another is never counted twice.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface RelayEvent {
  readonly at: number;
  readonly open: number;
}

export interface Relay {
  readonly port: number;
  readonly connections: number;
  readonly bytesDown: number;
  readonly active: number;
  readonly maxActive: number;
  /** Concurrency after every change (for a timeline). */
  readonly events: readonly RelayEvent[];
  cut(): Promise<void>;
  restore(): Promise<void>;
  retarget(port: number): void;
  setRate(bytesPerSecond: number | undefined): void;
  resetCounters(): void;
  close(): Promise<void>;
}

const SLICE = 4096;

export async function startRelay(target: { host?: string; port: number }, options: { bytesPerSecond?: number } = {}): Promise<Relay> {
  const host = target.host ?? '127.0.0.1';
  let upstreamPort = target.port;
  let rate = options.bytesPerSecond;
  const sockets = new Set<Socket>();
  let connections = 0;
  let bytesDown = 0;
  let active = 0;
  let maxActive = 0;
  let events: RelayEvent[] = [];

  const onConnection = (client: Socket) => {
    connections++;
    // Counted in the check phase, after every I/O callback of this loop turn: a client that closes
    // one connection and opens the next sends the FIN first, but both may become readable here in
    // the same turn, and the accept must not be counted before that close.
    let state: 'pending' | 'open' | 'closed' = 'pending';
    setImmediate(() => {
      if (state !== 'pending') return;
      state = 'open';
      active++;
      maxActive = Math.max(maxActive, active);
      events.push({ at: Date.now(), open: active });
    });
    const done = () => {
      const wasOpen = state === 'open';
      state = 'closed';
      if (!wasOpen) return;
      active--;
      events.push({ at: Date.now(), open: active });
    };
    const upstream = connect({ host, port: upstreamPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('end', done);
    client.on('close', done);
    client.on('error', done);
    upstream.on('error', () => client.destroy());

    let queue: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let upstreamGone = false;
    const finishIfDrained = () => {
      if (upstreamGone && queue.length === 0 && !timer) client.end();
    };
    const pump = () => {
      timer = undefined;
      const slice = queue.shift();
      if (!slice || client.destroyed) return;
      client.write(slice);
      bytesDown += slice.length;
      if (queue.length) timer = setTimeout(pump, delayFor(queue[0]!.length));
      else if (upstreamGone) finishIfDrained();
      else upstream.resume();
    };
    const delayFor = (bytes: number) => (rate ? (bytes * 1000) / rate : 0);
    client.on('data', (chunk: Buffer) => {
      if (!upstream.destroyed) upstream.write(chunk);
    });
    client.on('close', () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      queue = [];
      upstream.destroy();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!rate && queue.length === 0 && !timer) {
        bytesDown += chunk.length;
        if (!client.write(chunk)) {
          upstream.pause();
          client.once('drain', () => upstream.resume());
        }
        return;
      }
      upstream.pause();
      for (let at = 0; at < chunk.length; at += SLICE) queue.push(chunk.subarray(at, at + SLICE));
      if (!timer) timer = setTimeout(pump, delayFor(queue[0]!.length));
    });
    upstream.on('close', () => {
      upstreamGone = true;
      finishIfDrained();
    });
  };

  let server: Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const next = createServer(onConnection);
      next.once('error', reject);
      next.listen({ host: '127.0.0.1', port }, () => {
        server = next;
        resolve((next.address() as AddressInfo).port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const current = server;
      server = undefined;
      if (!current) return resolve();
      current.close(() => resolve());
    });
  const port = await listen(0);

  return {
    port,
    get connections() {
      return connections;
    },
    get bytesDown() {
      return bytesDown;
    },
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    get events() {
      return events;
    },
    cut: async () => {
      const closing = stopListening();
      for (const socket of sockets) socket.destroy();
      await closing;
    },
    restore: async () => {
      if (!server) await listen(port);
    },
    retarget: (next: number) => {
      upstreamPort = next;
    },
    setRate: (bytesPerSecond: number | undefined) => {
      rate = bytesPerSecond;
    },
    resetCounters: () => {
      connections = 0;
      bytesDown = 0;
      maxActive = active;
      events = [];
    },
    close: async () => {
      const closing = stopListening();
      for (const socket of sockets) socket.destroy();
      await closing;
    },
  };
}
