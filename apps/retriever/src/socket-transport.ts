/**
 * The client session's transport over a TCP or TLS socket: status lines and multi-line bodies
 * with a response timeout, a line-length cap and read backpressure, and STLS.
 */
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { MultilineDecoder, parseStatusLine, ProtocolError } from '@mailnode/pop3-protocol';
import { RetrievalError, type Pop3Transport } from '@mailnode/pop3-client-session';
import { maskCommand, NO_TRANSCRIPT, type Transcript } from '@mailnode/logging';
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
  /** Unread bytes: the chunk being read, then the chunks that arrived after it (never joined wholesale). */
  private buffer: Buffer = EMPTY;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private failure: Error | undefined;
  private ended = false;
  private wake: (() => void) | undefined;
  private inSasl = false;
  /** Commands sent in this turn of the event loop, not yet written. */
  private unsent = '';
  private readonly flush = () => {
    const data = this.unsent;
    this.unsent = '';
    // Closed in the meantime (a session ending right after its last command): nothing to send.
    if (!this.socket.destroyed) this.socket.write(data);
  };
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
    if (this.options.transcript !== NO_TRANSCRIPT) this.record(line);
    // Commands sent in one turn of the event loop (a pipelined run of RETRs and DELEs) leave
    // in one write: one system call and one packet instead of one per command.
    if (this.unsent === '') process.nextTick(this.flush);
    this.unsent += `${line}\r\n`;
  }

  private record(line: string): void {
    // Lines answering a SASL challenge carry credentials: masked until the exchange ends.
    const masked = this.inSasl ? '****' : maskCommand(line);
    if (/^AUTH \S+$/i.test(line)) this.inSasl = true;
    this.options.transcript.client(this.options.transcriptId, masked);
  }

  async readStatus() {
    for (;;) {
      if (this.buffer.length === 0) this.advance();
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
      if (this.queue.length > 0) this.joinLine();
      else await this.more();
    }
  }

  async readBody(sink: (chunk: Buffer) => void | Promise<void>, maxBytes: number): Promise<number> {
    const decoder = new MultilineDecoder({ maxLineLength: this.options.lineLength });
    let total = 0;
    for (;;) {
      if (this.buffer.length === 0) this.advance();
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
        continue;
      }
      await this.more();
    }
  }

  async startTls(): Promise<void> {
    const raw = this.socket;
    this.detach(raw);
    // Nothing the server sent in plaintext after its +OK may be read as protected data.
    this.buffer = EMPTY;
    this.queue.length = 0;
    this.queued = 0;
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
    if (this.buffer.length === 0 && this.queue.length === 0) this.buffer = chunk;
    else {
      this.queue.push(chunk);
      this.queued += chunk.length;
    }
    if (this.buffer.length + this.queued > READ_HIGH_WATER) this.socket.pause();
    this.notify();
  }

  /** The next queued chunk becomes the one being read. */
  private advance(): void {
    const next = this.queue.shift();
    if (!next) return;
    this.buffer = next;
    this.queued -= next.length;
  }

  /**
   * A status line split across chunks: appends the next chunk up to its first line end (or up to
   * just past the line-length limit, which readStatus then refuses). Copies a line, not a chunk.
   */
  private joinLine(): void {
    const next = this.queue[0]!;
    const lf = next.indexOf(0x0a);
    const take = Math.min(lf >= 0 ? lf + 1 : next.length, this.options.lineLength + 2);
    this.buffer = Buffer.concat([this.buffer, next.subarray(0, take)]);
    if (take === next.length) this.queue.shift();
    else this.queue[0] = next.subarray(take);
    this.queued -= take;
  }

  private consume(bytes: number): void {
    this.buffer = this.buffer.subarray(bytes);
    this.resumeIfDrained();
  }

  private resumeIfDrained(): void {
    if (this.buffer.length + this.queued <= READ_HIGH_WATER && this.socket.isPaused()) this.socket.resume();
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
