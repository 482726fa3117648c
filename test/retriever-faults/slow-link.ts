/**
 * A loopback TCP relay that limits the bandwidth from the server to the client (a slow link),
 * so a download of 1 000 small messages lasts long enough for many kills to land inside it.
 * Client → server bytes pass through at once. Either side closing closes both.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface SlowLink {
  readonly port: number;
  /** Connections relayed so far. */
  readonly connections: number;
  close(): Promise<void>;
}

const SLICE = 4096;

export async function startSlowLink(target: { host: string; port: number }, bytesPerSecond: number): Promise<SlowLink> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect({ host: target.host, port: target.port });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    // Server → client: slices of SLICE bytes, each released after its share of time. What the
    // server sent before it closed (the reply to QUIT) is still delivered, then the client end closes.
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
      if (queue.length) timer = setTimeout(pump, (queue[0]!.length * 1000) / bytesPerSecond);
      else if (upstreamGone) finishIfDrained();
      else upstream.resume();
    };
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
      upstream.pause();
      for (let at = 0; at < chunk.length; at += SLICE) queue.push(chunk.subarray(at, at + SLICE));
      if (!timer) timer = setTimeout(pump, (queue[0]!.length * 1000) / bytesPerSecond);
    });
    upstream.on('close', () => {
      upstreamGone = true;
      finishIfDrained();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
