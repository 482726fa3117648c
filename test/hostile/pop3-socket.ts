/**
 * A raw POP3 client socket for hostile-input and load tests: writes anything (bytes, partial
 * lines, TLS garbage), reads lines with deadlines, can stop reading (to test backpressure) and
 * reports how the server ended the connection. Every socket opened here is remembered;
 * destroyAllSockets() in afterEach/afterAll closes whatever a failed test left open.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type ConnectionOptions } from 'node:tls';

const open = new Set<Socket>();

export interface ConnectOptions {
  /** Implicit TLS from the first byte (certificate checks off unless `tls` says otherwise). */
  readonly tls?: ConnectionOptions | true;
  /** Source address, e.g. 127.0.0.2 to appear as another client IP on loopback. */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

export class Pop3Socket {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiters: Array<() => void> = [];
  /** Bytes received over the whole connection. */
  receivedBytes = 0;
  /** The server closed (or reset) the connection. */
  ended = false;
  /** A socket error was seen (e.g. ECONNRESET). */
  error: Error | undefined;
  /** When the close was seen (Date.now()), 0 while open. */
  closedAt = 0;

  private constructor(public socket: Socket) {
    open.add(socket);
    this.listen(socket);
  }

  static async connect(port: number, options: ConnectOptions = {}): Promise<Pop3Socket> {
    const tls = options.tls === true ? { rejectUnauthorized: false } : options.tls;
    const base = { host: '127.0.0.1', port, localAddress: options.localAddress };
    const socket = tls ? tlsConnect({ ...base, servername: 'localhost', ...tls }) : netConnect(base);
    const timeoutMs = options.timeoutMs ?? 5000;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`connect to port ${port} timed out after ${timeoutMs} ms`)), timeoutMs);
        socket.once(tls ? 'secureConnect' : 'connect', () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      });
    } catch (error) {
      socket.destroy();
      open.delete(socket);
      throw error;
    }
    return new Pop3Socket(socket);
  }

  private listen(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.receivedBytes += chunk.length;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.closedAt = Date.now();
      open.delete(socket);
      this.wake();
    });
    socket.on('error', (error) => {
      this.error = error;
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  /** Everything received and not yet consumed, as one buffer. */
  private joined(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private consume(n: number): Buffer {
    const all = this.joined();
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }

  /** Unconsumed bytes (for messages on failure). */
  pending(max = 120): string {
    return JSON.stringify(this.joined().subarray(0, max).toString('latin1'));
  }

  write(data: string | Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(data);
  }

  /** Resolves once `data` is handed to the kernel (or rejects when the socket dies first). */
  writeAll(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) return reject(new Error('socket destroyed'));
      this.socket.write(data, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** One reply line (CRLF stripped). Throws on close or timeout. */
  async line(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffered > 0) {
        const all = this.joined();
        const end = all.indexOf('\r\n');
        if (end >= 0) return this.consume(end + 2).subarray(0, end).toString('latin1');
      }
      if (this.ended) throw new Error(`connection closed (pending: ${this.pending()})`);
      await this.waitForData(deadline);
    }
  }

  /** The next reply line, or null when the server closed first. Throws on timeout. */
  async lineOrClose(timeoutMs = 5000): Promise<string | null> {
    try {
      return await this.line(timeoutMs);
    } catch (error) {
      if (this.ended) return null;
      throw error;
    }
  }

  /** Body of a multi-line reply (still dot-stuffed), without the terminating dot line. */
  async multiline(timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = this.joined();
      if (all.length >= 3 && all[0] === 0x2e && all[1] === 0x0d && all[2] === 0x0a) {
        this.consume(3);
        return Buffer.alloc(0);
      }
      const end = all.indexOf('\r\n.\r\n');
      if (end >= 0) return this.consume(end + 5).subarray(0, end + 2);
      if (this.ended) throw new Error('connection closed inside a multi-line reply');
      await this.waitForData(deadline);
    }
  }

  async command(line: string, timeoutMs = 5000): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line(timeoutMs);
  }

  /** Resolves when any unconsumed byte is there, or the connection closed; false on timeout. */
  async anyReplyOrClose(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered === 0 && !this.ended) {
      try {
        await this.waitForData(deadline);
      } catch {
        return false;
      }
    }
    return true;
  }

  /** Resolves when the server has closed the connection; throws after the timeout. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.waitForData(deadline);
  }

  /** Drops everything received so far. */
  discard(): void {
    this.chunks = [];
    this.buffered = 0;
  }

  /** Stop reading from the kernel (the server's writes back up), and resume. */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  async startTls(options: ConnectionOptions = { rejectUnauthorized: false }): Promise<void> {
    const secure = tlsConnect({ socket: this.socket, servername: 'localhost', ...options });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket.removeAllListeners('data');
    this.socket = secure;
    open.add(secure);
    this.listen(secure);
  }

  get tls(): boolean {
    return this.socket instanceof TLSSocket;
  }

  /** Half-close: we send FIN and keep reading. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
    open.delete(this.socket);
  }

  private waitForData(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`timed out waiting for the server (pending: ${this.pending()})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for the server (pending: ${this.pending()})`)), left);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Reads the greeting, logs in with USER/PASS and returns the PASS reply. */
export async function loginUserPass(client: Pop3Socket, user: string, password: string, timeoutMs = 5000): Promise<string> {
  const greeting = await client.line(timeoutMs);
  if (!greeting.startsWith('+OK')) throw new Error(`greeting: ${greeting}`);
  const userReply = await client.command(`USER ${user}`, timeoutMs);
  if (!userReply.startsWith('+OK')) throw new Error(`USER: ${userReply}`);
  return client.command(`PASS ${password}`, timeoutMs);
}

/** Closes every socket still open (afterEach / afterAll). */
export function destroyAllSockets(): void {
  for (const socket of open) socket.destroy();
  open.clear();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
