/** Opens the connection to a remote POP3 server (plain, or implicit TLS) and reads its greeting. */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { RetrievalError, type Pop3Transport } from '@mailnode/pop3-client-session';
import { secureConnected, SocketTransport, type TransportOptions } from './socket-transport.ts';

export interface RemoteEndpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: 'none' | 'implicit' | 'stls';
}

/** `host`, `host:port` or `[v6]:port`, with the given default port (POP3, POP3S, SMTP). */
export function parseServerAddress(address: string, defaultPort: number): { host: string; port: number } {
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!match) throw new Error(`bad server address '${address}'`);
  return { host: match[1]!, port: match[2] ? Number(match[2]) : defaultPort };
}

export async function openTransport(endpoint: RemoteEndpoint, options: TransportOptions): Promise<{ transport: Pop3Transport; greeting: string }> {
  const socket = await connectSocket(endpoint, options.tls, options.timeoutMs);
  const transport = new SocketTransport(socket, options, endpoint.tls === 'implicit', endpoint.tls === 'implicit' && Boolean(options.tls.cert));
  try {
    const status = await transport.readStatus();
    if ('continuation' in status || !status.ok) throw new RetrievalError('greeting', `server refused the connection: ${status.text}`);
    return { transport, greeting: status.text };
  } catch (error) {
    transport.close();
    // Whatever went wrong while waiting for the greeting is a greeting failure.
    throw error instanceof RetrievalError && error.stage === 'greeting' ? error : new RetrievalError('greeting', (error as Error).message, { cause: error });
  }
}

async function connectSocket(endpoint: RemoteEndpoint, tls: ConnectionOptions, timeoutMs: number): Promise<Socket> {
  const where = `${endpoint.host}:${endpoint.port}`;
  const socket = endpoint.tls === 'implicit' ? tlsConnect({ ...tls, host: endpoint.host, port: endpoint.port }) : netConnect({ host: endpoint.host, port: endpoint.port });
  socket.setNoDelay(true);
  const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
  try {
    if (endpoint.tls === 'implicit') {
      await secureConnected(socket as ReturnType<typeof tlsConnect>);
    } else {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    }
    return socket;
  } catch (error) {
    socket.destroy();
    if (error instanceof RetrievalError) throw error;
    throw new RetrievalError('connect', `cannot connect to ${where}: ${(error as Error).message}`, { cause: error, code: (error as NodeJS.ErrnoException).code });
  } finally {
    clearTimeout(timer);
  }
}
