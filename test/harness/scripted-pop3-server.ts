/**
 * A scripted POP3 server for retriever fault tests: net.Server on 127.0.0.1, a free port, a
 * small in-memory mailbox served the RFC 1939 way by default, and any command's behaviour
 * replaceable per test (answer garbage, stream forever, drop the connection mid-body, never
 * answer ...). Every command received is recorded, per connection.
 *
 *   const server = await startScriptedPop3({
 *     messages: [{ data: 'Subject: a\r\n\r\nbody\r\n', uidl: 'u1' }],
 *     commands: { RETR: async (ctx) => { ctx.write('+OK\r\nhalf a bo'); ctx.destroy(); } },
 *   });
 *   ... point the retriever at 127.0.0.1:server.port ...
 *   server.received('DELE')   // ['DELE 1', ...]
 *   await server.stop();
 *
 * Endless output (streamForever) honours socket backpressure and stops when the client goes
 * away, after `maxBytes`, or after `maxMs`, whichever comes first: nothing here runs unbounded.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface ScriptedMessage {
  /** The message as the client should receive it (CRLF line ends, not dot-stuffed). LF is turned into CRLF. */
  readonly data: Buffer | string;
  readonly uidl?: string;
  /** What LIST claims (default: the real size). */
  readonly listedSize?: number;
}

export interface Connection {
  readonly id: number;
  readonly socket: Socket;
  /** Commands received on this connection, in order (PASS text included: test credentials only). */
  readonly commands: string[];
  /** Message numbers marked deleted in this session (committed only by QUIT). */
  readonly deleted: Set<number>;
  /** Set once QUIT committed the deletions. */
  committed: boolean;
  closed: boolean;
}

export interface CommandContext {
  readonly verb: string;
  readonly args: string[];
  readonly line: string;
  readonly connection: Connection;
  readonly server: ScriptedPop3Server;
  /** Raw bytes to the client (no CRLF added). Resolves when handed to the kernel or buffered below the high-water mark. */
  write(data: string | Buffer): Promise<void>;
  /** A status line (CRLF added). */
  reply(line: string): Promise<void>;
  /** The default behaviour for this command. */
  standard(): Promise<void>;
  /** Closes gracefully (FIN) after what was written. */
  end(): void;
  /** Drops the connection at once. */
  destroy(): void;
  /**
   * Writes `chunk` again and again until the client disconnects or a bound is reached.
   * Returns the number of bytes written.
   */
  streamForever(chunk: string | Buffer, bounds?: { maxBytes?: number; maxMs?: number }): Promise<number>;
}

export type CommandHandler = (ctx: CommandContext) => void | Promise<void>;

export interface ScriptedPop3Options {
  readonly messages?: readonly ScriptedMessage[];
  /**
   * The greeting line, CRLF added (default `+OK scripted POP3 ready <1234.5678@scripted.test>`).
   * A function gets the raw socket instead (say nothing, send garbage, ...).
   */
  readonly greeting?: string | ((connection: Connection, ctx: Pick<CommandContext, 'write' | 'end' | 'destroy' | 'streamForever'>) => void | Promise<void>);
  /** CAPA lines (default TOP, UIDL, USER, PIPELINING); null answers -ERR. */
  readonly capa?: readonly string[] | null;
  /** user → password; absent: any login is accepted. */
  readonly users?: Readonly<Record<string, string>>;
  /** Per-command overrides (upper-case verb). */
  readonly commands?: Readonly<Record<string, CommandHandler>>;
}

export interface ScriptedPop3Server {
  readonly port: number;
  readonly address: string;
  readonly connections: readonly Connection[];
  /** The mailbox as it stands (messages removed by a committed QUIT are gone). */
  readonly mailbox: readonly ScriptedMessage[];
  /** Every command received on any connection, in order; with a verb, only those commands. */
  received(verb?: string): string[];
  /** Bytes written by streamForever so far. */
  readonly streamedBytes: number;
  stop(): Promise<void>;
}

const DEFAULT_GREETING = '+OK scripted POP3 ready <1234.5678@scripted.test>';
/** A stream's hard bounds when the test gives none. */
const STREAM_MAX_BYTES = 2 * 1024 * 1024 * 1024;
const STREAM_MAX_MS = 60_000;
const MAX_COMMAND_BYTES = 64 * 1024;

function toWire(data: Buffer | string): Buffer {
  const text = Buffer.isBuffer(data) ? data.toString('latin1') : data;
  return Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');
}

/** RFC 1939 byte-stuffing plus the terminating line. */
export function dotStuff(wire: Buffer): Buffer {
  const text = wire.toString('latin1');
  const stuffed = text.replace(/(^|\r\n)\./g, '$1..');
  return Buffer.from(`${stuffed}${stuffed.endsWith('\r\n') || stuffed === '' ? '' : '\r\n'}.\r\n`, 'latin1');
}

export async function startScriptedPop3(options: ScriptedPop3Options = {}): Promise<ScriptedPop3Server> {
  let mailbox: ScriptedMessage[] = [...(options.messages ?? [])];
  const connections: Connection[] = [];
  const sockets = new Set<Socket>();
  let streamedBytes = 0;
  let nextId = 1;
  let stopping = false;

  const writeTo = (socket: Socket, data: string | Buffer): Promise<void> =>
    new Promise((resolve) => {
      if (socket.destroyed || !socket.writable) return resolve();
      const flushed = socket.write(data);
      if (flushed) return resolve();
      const done = () => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });

  const streamForever = async (socket: Socket, chunk: string | Buffer, bounds: { maxBytes?: number; maxMs?: number } = {}): Promise<number> => {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1');
    const maxBytes = Math.min(bounds.maxBytes ?? STREAM_MAX_BYTES, STREAM_MAX_BYTES);
    const deadline = Date.now() + Math.min(bounds.maxMs ?? STREAM_MAX_MS, STREAM_MAX_MS);
    let written = 0;
    while (!socket.destroyed && socket.writable && !stopping && written < maxBytes && Date.now() < deadline) {
      await writeTo(socket, data);
      written += data.length;
      streamedBytes += data.length;
    }
    return written;
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const connection: Connection = { id: nextId++, socket, commands: [], deleted: new Set(), committed: false, closed: false };
    connections.push(connection);
    socket.on('close', () => {
      connection.closed = true;
      sockets.delete(socket);
    });
    socket.setNoDelay(true);
    const basic = {
      write: (data: string | Buffer) => writeTo(socket, data),
      end: () => socket.end(),
      destroy: () => socket.destroy(),
      streamForever: (chunk: string | Buffer, bounds?: { maxBytes?: number; maxMs?: number }) => streamForever(socket, chunk, bounds),
    };

    let authenticated = false;
    let user: string | undefined;
    let pending = Buffer.alloc(0);
    let chain: Promise<void> = Promise.resolve();

    const visible = () => mailbox.map((message, index) => ({ message, number: index + 1 })).filter(({ number }) => !connection.deleted.has(number));

    const standard = async (verb: string, args: string[]): Promise<void> => {
      const reply = (line: string) => writeTo(socket, `${line}\r\n`);
      const n = Number(args[0]);
      const target = Number.isInteger(n) && n >= 1 && n <= mailbox.length && !connection.deleted.has(n) ? mailbox[n - 1]! : undefined;
      switch (verb) {
        case 'CAPA': {
          if (options.capa === null) return reply('-ERR no CAPA');
          const lines = options.capa ?? ['TOP', 'UIDL', 'USER', 'PIPELINING'];
          return writeTo(socket, `+OK capability list follows\r\n${lines.map((line) => `${line}\r\n`).join('')}.\r\n`);
        }
        case 'USER':
          user = args[0];
          return reply('+OK');
        case 'PASS': {
          const expected = user === undefined ? undefined : options.users?.[user];
          if (options.users && (expected === undefined || expected !== args.join(' '))) return reply('-ERR [AUTH] invalid login');
          authenticated = true;
          return reply(`+OK logged in, ${mailbox.length} messages`);
        }
        case 'STAT': {
          const list = visible();
          return reply(`+OK ${list.length} ${list.reduce((sum, { message }) => sum + toWire(message.data).length, 0)}`);
        }
        case 'LIST': {
          if (args[0] !== undefined) return target ? reply(`+OK ${n} ${target.listedSize ?? toWire(target.data).length}`) : reply('-ERR no such message');
          const lines = visible().map(({ message, number }) => `${number} ${message.listedSize ?? toWire(message.data).length}\r\n`);
          return writeTo(socket, `+OK ${lines.length} messages\r\n${lines.join('')}.\r\n`);
        }
        case 'UIDL': {
          if (args[0] !== undefined) return target?.uidl ? reply(`+OK ${n} ${target.uidl}`) : reply('-ERR no such message');
          const lines = visible().flatMap(({ message, number }) => (message.uidl ? [`${number} ${message.uidl}\r\n`] : []));
          return writeTo(socket, `+OK\r\n${lines.join('')}.\r\n`);
        }
        case 'RETR': {
          if (!target) return reply('-ERR no such message');
          const wire = toWire(target.data);
          return writeTo(socket, Buffer.concat([Buffer.from(`+OK ${wire.length} octets\r\n`, 'latin1'), dotStuff(wire)]));
        }
        case 'DELE':
          if (!target) return reply('-ERR no such message');
          connection.deleted.add(n);
          return reply(`+OK message ${n} deleted`);
        case 'NOOP':
          return reply('+OK');
        case 'RSET':
          connection.deleted.clear();
          return reply('+OK');
        case 'QUIT': {
          if (authenticated && connection.deleted.size) {
            mailbox = mailbox.filter((_, index) => !connection.deleted.has(index + 1));
          }
          connection.committed = true;
          await reply('+OK bye');
          socket.end();
          return;
        }
        default:
          return reply('-ERR unknown command');
      }
    };

    const handle = async (line: string): Promise<void> => {
      connection.commands.push(line);
      const [word = '', ...args] = line.split(' ');
      const verb = word.toUpperCase();
      const custom = options.commands?.[verb];
      if (!custom) return standard(verb, args);
      await custom({
        verb,
        args,
        line,
        connection,
        server: api,
        reply: (text) => writeTo(socket, `${text}\r\n`),
        standard: () => standard(verb, args),
        ...basic,
      });
    };

    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (let end = pending.indexOf(0x0a); end >= 0; end = pending.indexOf(0x0a)) {
        const line = pending.subarray(0, end).toString('latin1').replace(/\r$/, '');
        pending = pending.subarray(end + 1);
        chain = chain.then(() => handle(line)).catch(() => void socket.destroy());
      }
      if (pending.length > MAX_COMMAND_BYTES) socket.destroy();
    });

    const greet = async () => {
      if (typeof options.greeting === 'function') await options.greeting(connection, basic);
      else await writeTo(socket, `${options.greeting ?? DEFAULT_GREETING}\r\n`);
    };
    chain = chain.then(greet).catch(() => void socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;

  const api: ScriptedPop3Server = {
    port,
    address,
    connections,
    get mailbox() {
      return mailbox;
    },
    received: (verb?: string) =>
      connections.flatMap((c) => c.commands).filter((line) => verb === undefined || line.split(' ')[0]!.toUpperCase() === verb.toUpperCase()),
    get streamedBytes() {
      return streamedBytes;
    },
    stop: async () => {
      stopping = true;
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
