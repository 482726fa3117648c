/**
 * The client session's transport over a TCP or TLS socket: status lines and multi-line bodies
 * with a response timeout, a line-length cap and read backpressure, and STLS.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { MultilineDecoder, parseStatusLine, ProtocolError } from '@mailnode/pop3-protocol';
import { RetrievalError, type Pop3Transport } from '@mailnode/pop3-client-session';
import { maskCommand, type Transcript } from '@mailnode/logging';
import { describeTlsError } from './tls-errors.ts';

/** Unread bytes held before we stop reading the socket. */
const READ_HIGH_WATER = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

export interface TransportOptions {
  readonly timeoutMs: number;
  readonly lineLength: number;
  readonly transcript: Transcript;
  readonly transcriptId: string;
  /** For STLS: how to verify the server. */
  readonly tls: ConnectionOptions;
}

export class SocketTransport implements Pop3Transport {
  private buffer: Buffer = EMPTY;
  private failure: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;
  private inSasl = false;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onEnd = () => this.finish(undefined);
  private readonly onError = (error: Error) => this.finish(error);

  constructor(
    private socket: Socket,
    private readonly options: TransportOptions,
    public secure: boolean,
    public hasClientCertificate = false,
  ) {
    this.attach(socket);
  }

  send(line: string): void {
    // Lines answering a SASL challenge carry credentials: masked until the exchange ends.
    const masked = this.inSasl ? '****' : maskCommand(line);
    if (/^AUTH \S+$/i.test(line)) this.inSasl = true;
    this.options.transcript.client(this.options.transcriptId, masked);
    this.socket.write(`${line}\r\n`);
  }

  async readStatus() {
    for (;;) {
      const end = this.buffer.indexOf(0x0a);
      if (end > this.options.lineLength + 1) throw new RetrievalError('download', `server reply line longer than ${this.options.lineLength} bytes`);
      if (end >= 0) {
        const line = this.buffer.subarray(0, end > 0 && this.buffer[end - 1] === 0x0d ? end - 1 : end).toString('latin1');
        this.consume(end + 1);
        const status = parseStatusLine(line);
        if (!status) throw new RetrievalError('download', `malformed reply from server: ${JSON.stringify(line.slice(0, 80))}`);
        if (!('continuation' in status)) this.inSasl = false;
        this.options.transcript.server(this.options.transcriptId, line);
        return status;
      }
      if (this.buffer.length > this.options.lineLength) throw new RetrievalError('download', `server reply line longer than ${this.options.lineLength} bytes`);
      await this.more();
    }
  }

  async readBody(sink: (chunk: Buffer) => void | Promise<void>, maxBytes: number): Promise<number> {
    const decoder = new MultilineDecoder({ maxLineLength: this.options.lineLength });
    let total = 0;
    for (;;) {
      if (this.buffer.length > 0) {
        const input = this.buffer;
        this.buffer = EMPTY;
        let result;
        try {
          result = decoder.push(input);
        } catch (error) {
          if (error instanceof ProtocolError) throw new RetrievalError('download', `server sent a line longer than ${this.options.lineLength} bytes`);
          throw error;
        }
        if (result.done) this.buffer = result.rest;
        for (const chunk of result.data) {
          total += chunk.length;
          if (total > maxBytes) throw new RetrievalError('download', `reply larger than ${maxBytes} bytes; giving up on this server`);
          await sink(chunk);
        }
        this.resumeIfDrained();
        if (result.done) return total;
        // More may have arrived while the sink was busy (and paused the socket): use it first.
        if (this.buffer.length > 0) continue;
      }
      await this.more();
    }
  }

  async startTls(): Promise<void> {
    const raw = this.socket;
    this.detach(raw);
    // Nothing the server sent in plaintext after its +OK may be read as protected data.
    this.buffer = EMPTY;
    const secure = tlsConnect({ ...this.options.tls, socket: raw });
    // A server that accepts STLS and then goes silent must not hang the client.
    const timer = setTimeout(() => secure.destroy(new Error(`no TLS handshake within ${Math.round(this.options.timeoutMs / 1000)} s`)), this.options.timeoutMs);
    try {
      await secureConnected(secure);
    } finally {
      clearTimeout(timer);
    }
    this.socket = secure;
    this.secure = true;
    this.hasClientCertificate = Boolean(this.options.tls.cert);
    this.attach(secure);
    raw.resume();
  }

  close(): void {
    this.socket.destroy();
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  private detach(socket: Socket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEnd);
    socket.off('error', this.onError);
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > READ_HIGH_WATER) this.socket.pause();
    this.notify();
  }

  private consume(bytes: number): void {
    this.buffer = this.buffer.subarray(bytes);
    this.resumeIfDrained();
  }

  private resumeIfDrained(): void {
    if (this.buffer.length <= READ_HIGH_WATER && this.socket.isPaused()) this.socket.resume();
  }

  private finish(error: Error | undefined): void {
    this.ended = true;
    this.failure ??= error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Waits for more bytes, the end of the connection, or the response timeout. */
  private more(): Promise<void> {
    if (this.failure) return Promise.reject(new RetrievalError('download', `connection failed: ${this.failure.message}`, { cause: this.failure }));
    if (this.ended) return Promise.reject(new RetrievalError('download', 'server closed the connection'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new RetrievalError('download', `server did not answer within ${Math.round(this.options.timeoutMs / 1000)} s`));
      }, this.options.timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export function secureConnected(socket: TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('secureConnect', () => {
      socket.off('error', onError);
      resolve();
    });
    const onError = (error: Error) => reject(new RetrievalError('tls', describeTlsError(error), { cause: error }));
    socket.once('error', onError);
  });
}
