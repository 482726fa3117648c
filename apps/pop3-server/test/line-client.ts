/** A minimal POP3 test client over a real socket: raw writes, line and multi-line reads. */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, TLSSocket, type ConnectionOptions } from 'node:tls';

export class LineClient {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  ended = false;

  private constructor(public socket: Socket) {
    this.listen(socket);
  }

  static async connect(port: number, tls?: ConnectionOptions): Promise<LineClient> {
    const socket = tls ? tlsConnect({ host: '127.0.0.1', port, ...tls }) : netConnect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    return new LineClient(socket);
  }

  private listen(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  async line(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const text = this.buffer.subarray(0, end).toString('latin1');
        this.buffer = this.buffer.subarray(end + 2);
        return text;
      }
      if (this.ended) throw new Error(`connection closed (pending: ${JSON.stringify(this.buffer.toString('latin1').slice(0, 80))})`);
      await this.waitForData(deadline);
    }
  }

  /** The body of a multi-line reply, still dot-stuffed, without the terminator. */
  async multiline(timeoutMs = 10_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.buffer.subarray(0, 3).toString() === '.\r\n') {
        this.buffer = this.buffer.subarray(3);
        return Buffer.alloc(0);
      }
      const end = this.buffer.indexOf('\r\n.\r\n');
      if (end >= 0) {
        const body = this.buffer.subarray(0, end + 2);
        this.buffer = this.buffer.subarray(end + 5);
        return body;
      }
      if (this.ended) throw new Error('connection closed inside a multi-line reply');
      await this.waitForData(deadline);
    }
  }

  async command(line: string): Promise<string> {
    this.write(`${line}\r\n`);
    return this.line();
  }

  async startTls(options: ConnectionOptions): Promise<void> {
    const secure = tlsConnect({ socket: this.socket, ...options });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.socket.removeAllListeners('data');
    this.socket = secure;
    this.listen(secure);
  }

  /** Resolves when the server closes the connection. */
  async closed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) await this.waitForData(deadline);
  }

  close(): void {
    this.socket.destroy();
  }

  get tls(): boolean {
    return this.socket instanceof TLSSocket;
  }

  private waitForData(deadline: number): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(`timed out waiting for data (pending: ${JSON.stringify(this.buffer.toString('latin1').slice(0, 80))})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for data')), left);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
