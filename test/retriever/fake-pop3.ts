/**
 * A tiny POP3 server for the few behaviours Dovecot cannot be made to show: refusing a SASL
 * mechanism it announced (only PLAIN, USER/PASS work here), not offering STLS, or answering STLS and then not speaking
 * TLS. It records every line it receives (per connection), so a test can prove what the
 * retriever did and did not send. 127.0.0.1, port 0; stop() closes every connection.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface FakeMessage {
  /** CRLF line ends, not dot-stuffed. */
  readonly data: string;
  readonly uidl: string;
}

export interface FakePop3Options {
  readonly greeting?: string;
  /** CAPA lines; null: CAPA answered -ERR. */
  readonly capa?: readonly string[] | null;
  /**
   * How STLS is answered: -ERR; or +OK, then plaintext in reply to the client's TLS hello;
   * or +OK, then silence (the connection stays open until stop()).
   */
  readonly stls?: 'refuse' | 'plaintext-after-ok' | 'silent-after-ok';
  /** user → password (USER/PASS and AUTH PLAIN). */
  readonly users?: Readonly<Record<string, string>>;
  readonly messages?: readonly FakeMessage[];
}

export interface FakePop3 {
  readonly port: number;
  /** Lines received, one array per connection, in order. */
  readonly connections: string[][];
  /** Every line received on any connection. */
  received(): string[];
  /** UIDLs deleted by a committed (QUIT) session. */
  readonly deleted: Set<string>;
  stop(): Promise<void>;
}

const stuff = (data: string) => data.replace(/^\./gm, '..');

export async function startFakePop3(options: FakePop3Options = {}): Promise<FakePop3> {
  const connections: string[][] = [];
  const sockets = new Set<Socket>();
  const deleted = new Set<string>();
  const messages = options.messages ?? [];
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const lines: string[] = [];
    connections.push(lines);
    let buffer = '';
    let user = '';
    let loggedIn = false;
    let plainPending = false;
    /** After a +OK to STLS: what arrives is the client's TLS handshake, not lines. */
    let rawAfterStls: 'plaintext' | 'silent' | undefined;
    const marked = new Set<number>();
    const send = (text: string) => {
      if (!socket.destroyed) socket.write(text);
    };
    const visible = () => messages.map((message, index) => ({ message, number: index + 1 })).filter((entry) => !deleted.has(entry.message.uidl));
    const checkPlain = (blob: string) => {
      const parts = Buffer.from(blob, 'base64').toString('latin1').split('\0');
      const [, name = '', password = ''] = parts;
      if (options.users?.[name] === password) {
        loggedIn = true;
        send('+OK logged in\r\n');
      } else send('-ERR [AUTH] authentication failed\r\n');
    };
    const handle = (line: string) => {
      lines.push(line);
      if (plainPending) {
        plainPending = false;
        checkPlain(line);
        return;
      }
      const [verb = '', ...args] = line.split(' ');
      switch (verb.toUpperCase()) {
        case 'CAPA':
          if (options.capa === null) send('-ERR no CAPA\r\n');
          else send(`+OK\r\n${(options.capa ?? ['USER', 'UIDL', 'SASL PLAIN CRAM-MD5']).map((capability) => `${capability}\r\n`).join('')}.\r\n`);
          return;
        case 'STLS':
          if (options.stls === 'plaintext-after-ok' || options.stls === 'silent-after-ok') {
            rawAfterStls = options.stls === 'plaintext-after-ok' ? 'plaintext' : 'silent';
            send('+OK begin TLS\r\n');
          } else send('-ERR STLS not available here\r\n');
          return;
        case 'USER':
          user = args[0] ?? '';
          send('+OK\r\n');
          return;
        case 'PASS':
          if (options.users?.[user] === args.join(' ')) {
            loggedIn = true;
            send('+OK logged in\r\n');
          } else send('-ERR [AUTH] authentication failed\r\n');
          return;
        case 'AUTH': {
          const mechanism = (args[0] ?? '').toUpperCase();
          // SASL PLAIN is the only mechanism this server knows: any other is refused.
          if (mechanism !== 'PLAIN') {
            send(`-ERR [AUTH] mechanism ${mechanism} refused\r\n`);
            return;
          }
          if (args[1] !== undefined) checkPlain(args[1]);
          else {
            plainPending = true;
            send('+ \r\n');
          }
          return;
        }
        case 'QUIT':
          for (const number of marked) deleted.add(messages[number - 1]!.uidl);
          send('+OK bye\r\n');
          socket.end();
          return;
      }
      if (!loggedIn) {
        send('-ERR not logged in\r\n');
        return;
      }
      switch (verb.toUpperCase()) {
        case 'STAT':
          send(`+OK ${visible().length} ${visible().reduce((sum, entry) => sum + entry.message.data.length, 0)}\r\n`);
          return;
        case 'LIST':
          send(`+OK\r\n${visible().map((entry) => `${entry.number} ${entry.message.data.length}\r\n`).join('')}.\r\n`);
          return;
        case 'UIDL':
          send(`+OK\r\n${visible().map((entry) => `${entry.number} ${entry.message.uidl}\r\n`).join('')}.\r\n`);
          return;
        case 'RETR': {
          const entry = visible().find((candidate) => candidate.number === Number(args[0]));
          if (!entry) send('-ERR no such message\r\n');
          else send(`+OK ${entry.message.data.length} octets\r\n${stuff(entry.message.data)}.\r\n`);
          return;
        }
        case 'DELE':
          marked.add(Number(args[0]));
          send('+OK marked\r\n');
          return;
        case 'NOOP':
          send('+OK\r\n');
          return;
        default:
          send('-ERR unknown command\r\n');
      }
    };
    socket.on('data', (chunk: Buffer) => {
      if (rawAfterStls) {
        lines.push(`<${chunk.length} bytes after STLS>`);
        if (rawAfterStls === 'plaintext') send('-ERR this is plaintext, not a TLS server hello\r\n');
        return;
      }
      buffer += chunk.toString('latin1');
      for (let end = buffer.indexOf('\r\n'); end >= 0; end = buffer.indexOf('\r\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        handle(line);
        if (rawAfterStls) {
          buffer = '';
          break;
        }
      }
    });
    send(`${options.greeting ?? '+OK fake POP3 ready <1234.5678@fake.test>'}\r\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    received: () => connections.flat(),
    deleted,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
