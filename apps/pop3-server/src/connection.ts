/**
 * One client connection: bytes in → lines → session events, replies and messages out, with
 * backpressure both ways. The session machine decides what each line means; this file only
 * moves data, queues pipelined commands and swaps the socket for TLS on STLS.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { MessageContent } from '@mailnode/message-store';
import { encodeMessage, LineDecoder, MAX_SASL_LINE, MessageEncoder, parseCommand } from '@mailnode/pop3-protocol';
import { isVerb, type CommandEvent, type Pop3ServerSessionActor, type SessionEvent, type SessionIO, type WireOptions } from '@mailnode/pop3-server-session';
import { maskCommand, NO_TRANSCRIPT, type Transcript } from '@mailnode/logging';
import { borrowChunkBuffers, returnChunkBuffers } from './chunk-buffers.ts';
import { clientCommonName } from './tls-identity.ts';

export interface ConnectionOptions {
  readonly id: string;
  readonly lineLength: number;
  readonly idleTimeoutMs: number;
  /** Pipelined lines held before we stop reading from the socket. */
  readonly maxQueuedLines: number;
  readonly transcript: Transcript;
  /** For STLS; absent when the listener offers no TLS. */
  readonly tls?: { readonly context: SecureContext; readonly requestCert: boolean };
}

export class Pop3Connection implements SessionIO {
  private socket: Socket;
  private decoder: LineDecoder;
  private readonly queue: SessionEvent[] = [];
  private actor: Pop3ServerSessionActor | undefined;
  private pumping = false;
  /** Replies are piling up in the socket's buffer: stop reading commands until it drains. */
  private outputBlocked = false;
  /**
   * Inactivity: re-armed only by a complete command line or by output the client took (drain).
   * A socket timeout would be re-armed by every byte, so a client dripping one byte a second
   * (slowloris) or stalling a TLS handshake could hold its slot forever.
   */
  private readonly idleTimer: NodeJS.Timeout;
  private closed = false;
  private ended = false;
  /** sendMessage corked the socket; flush() uncorks it. */
  private outputHeld = false;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  /** A transcript is kept: only then are lines masked and cut for it (a lock-step RETR pays for every step). */
  private readonly recording: boolean;
  private readonly closeListeners: Array<() => void> = [];

  constructor(
    socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.socket = socket;
    this.recording = options.transcript !== NO_TRANSCRIPT;
    this.decoder = this.newDecoder();
    this.idleTimer = setTimeout(() => this.tell({ type: 'TIMEOUT' }), options.idleTimeoutMs);
    this.idleTimer.unref();
    this.attach(socket);
  }

  /** Start feeding the session; the machine's entry action sends the greeting. */
  bind(actor: Pop3ServerSessionActor): void {
    this.actor = actor;
    actor.subscribe({
      next: (snapshot) => {
        // Observers run inside the actor's own processing, where send() is only queued and the
        // snapshot would look ready for every pipelined line: pump once that step is over.
        if (this.queue.length > 0 && snapshot.hasTag('ready')) queueMicrotask(() => this.pump());
      },
      error: () => this.close(),
    });
  }

  onClose(listener: () => void): void {
    this.closeListeners.push(listener);
  }

  // ---- SessionIO ---------------------------------------------------------------------------

  write(text: string): void {
    if (this.closed) return;
    if (this.recording) this.options.transcript.server(this.options.id, firstLine(text));
    if (!this.socket.write(text)) this.blockInputUntilDrained();
  }

  async sendMessage(status: string, content: MessageContent, options: WireOptions): Promise<void> {
    if (this.closed) throw new Error('connection closed');
    if (this.recording) this.options.transcript.server(this.options.id, firstLine(status));
    if (content.kind === 'buffer') {
      // Status and body in one buffer; held in the cork with the replies before it, so a
      // pipelined run of small messages leaves in a few large writes instead of one per message.
      this.holdOutput();
      this.socket.write(encodeMessage(content.data, options, status));
      if (this.socket.writableLength >= HELD_OUTPUT_BYTES) await this.flush();
      return;
    }
    // A large message: read and encoded chunk by chunk through borrowed buffers; each chunk is
    // taken by the socket before its buffers are used again (that wait is the backpressure).
    const { reader } = content;
    const encoder = new MessageEncoder(options);
    const buffers = borrowChunkBuffers();
    let inFlight = false;
    try {
      this.holdOutput();
      this.socket.write(status, 'latin1');
      for (;;) {
        const bytesRead = await reader.read(buffers.input);
        if (bytesRead === 0) break;
        const length = encoder.writeInto(buffers.input.subarray(0, bytesRead), buffers.output);
        inFlight = true;
        await this.writeOut(buffers.output.subarray(0, length));
        inFlight = false;
        if (encoder.done) break;
      }
      this.holdOutput();
      this.socket.write(encoder.end());
    } finally {
      reader.close();
      // A write that failed may still be referenced by the socket: leave those buffers to the GC.
      if (!inFlight) returnChunkBuffers(buffers);
    }
  }

  sendMessageNow(status: string, data: Buffer, options: WireOptions): boolean {
    if (this.closed) return false;
    if (this.recording) this.options.transcript.server(this.options.id, firstLine(status));
    this.socket.write(encodeMessage(data, options, status));
    // Like a held run of sendMessage: up to HELD_OUTPUT_BYTES may wait in the socket's buffer (a
    // pipelined run leaves in a few large writes); past that the session waits in flush().
    return this.socket.writableLength < HELD_OUTPUT_BYTES;
  }

  async flush(): Promise<void> {
    this.releaseHeld();
    if (this.closed || this.socket.destroyed) throw new Error('connection closed');
    if (this.socket.writableNeedDrain) await this.drained();
    else this.idleTimer.refresh();
  }

  async startTls(): Promise<{ clientName?: string }> {
    const tls = this.options.tls;
    if (!tls) throw new Error('TLS is not configured on this listener');
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('drain', this.onDrain);
    // STARTTLS injection: whatever the client sent after STLS in plaintext is thrown away.
    this.queue.length = 0;
    this.decoder = this.newDecoder();
    await flushed(raw);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls.context, requestCert: tls.requestCert, rejectUnauthorized: false });
    this.socket = secure;
    await new Promise<void>((resolve, reject) => {
      secure.once('secure', resolve);
      secure.once('error', reject);
      secure.once('close', () => reject(new Error('connection closed during TLS handshake')));
    });
    this.attach(secure);
    this.options.transcript.note(this.options.id, 'TLS started');
    return { clientName: clientCommonName(secure) };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.socket.end();
    // A client that never reads must not keep the socket (and its buffers) alive.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** Server shutdown: tell the session, which answers and closes. */
  shutdown(): void {
    this.tell({ type: 'SHUTDOWN' });
  }

  /** Events for a session that already ended are dropped (XState warns about them otherwise). */
  private tell(event: SessionEvent): void {
    if (this.actor?.getSnapshot().status === 'active') this.actor.send(event);
  }

  // ---- input -------------------------------------------------------------------------------

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.handleClose());
  }

  private receive(chunk: Buffer): void {
    const lines = this.decoder.push(chunk);
    if (lines.length === 0) return;
    this.idleTimer.refresh();
    for (const line of lines) this.queue.push(this.toEvent(line));
    if (this.queue.length >= this.options.maxQueuedLines) this.socket.pause();
    this.pump();
  }

  /** The client is reading what we send: it is active, and queued commands may go on. */
  private readonly onDrain = (): void => {
    this.idleTimer.refresh();
    if (!this.outputBlocked) return;
    this.outputBlocked = false;
    this.pump();
  };

  /**
   * A client that pipelines commands without reading the replies (CAPA, LIST, UIDL...) would
   * make us buffer replies without bound: past the socket's high-water mark, reading stops.
   */
  private blockInputUntilDrained(): void {
    if (this.outputBlocked) return;
    this.outputBlocked = true;
    this.socket.pause();
  }

  /**
   * SASL responses (base64 credential blobs) may be longer than a command line: the decoder
   * takes lines up to MAX_SASL_LINE, and command lines are held to `lineLength` at dispatch.
   */
  private newDecoder(): LineDecoder {
    return new LineDecoder({ maxLineLength: Math.max(this.options.lineLength, MAX_SASL_LINE) });
  }

  private toEvent(line: ReturnType<LineDecoder['push']>[number]): SessionEvent {
    if (line.kind === 'too-long') {
      this.options.transcript.client(this.options.id, `[line of ${line.length} bytes]`);
      return { type: 'BAD_LINE', reason: 'too-long' };
    }
    // SASL responses are decided when dispatched: the state may change before then.
    return { type: 'SASL_RESPONSE', line: line.text };
  }

  /** Hand queued lines to the session one at a time, whenever it is ready for the next. */
  private pump(): void {
    if (this.pumping || !this.actor) return;
    this.pumping = true;
    // Replies to a pipelined burst leave in as few segments as possible; a lone command's reply
    // is one write anyway.
    const corked = this.queue.length > 1;
    if (corked) this.socket.cork();
    try {
      while (this.queue.length > 0 && !this.closed && !this.outputBlocked) {
        const snapshot = this.actor.getSnapshot();
        if (snapshot.status !== 'active' || !snapshot.hasTag('ready')) break;
        const raw = this.queue.shift()!;
        const event = snapshot.hasTag('sasl') ? this.saslEvent(raw) : this.commandEvent(raw);
        this.actor.send(event.type === 'RETR' && snapshot.hasTag('retr-run') ? this.retrRun(event as CommandEvent) : event);
      }
    } finally {
      this.pumping = false;
      if (corked) this.socket.uncork();
    }
    if (this.queue.length < this.options.maxQueuedLines && !this.outputBlocked && this.socket.isPaused() && !this.closed) this.socket.resume();
  }

  /**
   * A pipelined burst of RETRs goes to the session as one RETR_RUN: one machine transition per
   * burst instead of one per message (a transition costs about what reading and encoding a
   * small message does). Only lines that are plainly `RETR <arg>` join; anything else stays
   * queued and is handled on its own, in order.
   */
  private retrRun(first: CommandEvent): SessionEvent {
    if (!isPlainRetr(this.queue[0])) return first;
    const items: (readonly string[])[] = [first.args];
    while (items.length < MAX_RETR_RUN && isPlainRetr(this.queue[0])) {
      const next = this.commandEvent(this.queue.shift()!);
      items.push((next as CommandEvent).args);
    }
    return { type: 'RETR_RUN', items };
  }

  private saslEvent(event: SessionEvent): SessionEvent {
    if (event.type === 'SASL_RESPONSE') this.options.transcript.client(this.options.id, '****');
    return event;
  }

  private commandEvent(event: SessionEvent): SessionEvent {
    if (event.type !== 'SASL_RESPONSE') return event;
    if (event.line.length > this.options.lineLength && Buffer.byteLength(event.line) > this.options.lineLength) {
      this.options.transcript.client(this.options.id, `[line of ${Buffer.byteLength(event.line)} bytes]`);
      return { type: 'BAD_LINE', reason: 'too-long' };
    }
    if (this.recording) this.options.transcript.client(this.options.id, maskCommand(event.line));
    const parsed = parseCommand(event.line);
    if (!parsed.ok) return { type: 'BAD_LINE', reason: parsed.error };
    if (!isVerb(parsed.verb)) return { type: 'UNKNOWN', verb: parsed.verb };
    return { type: parsed.verb, args: parsed.args, rest: parsed.rest };
  }

  private handleClose(): void {
    if (this.ended) return;
    this.ended = true;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.tell({ type: 'DISCONNECTED' });
    for (const listener of this.closeListeners) listener();
    this.closeListeners.length = 0;
  }

  // ---- output ------------------------------------------------------------------------------

  private holdOutput(): void {
    if (this.outputHeld) return;
    this.outputHeld = true;
    this.socket.cork();
  }

  private releaseHeld(): void {
    if (!this.outputHeld) return;
    this.outputHeld = false;
    this.socket.uncork();
  }

  /** Writes data with whatever is held, resolving once the socket has handed it all to the kernel. */
  private writeOut(data: Buffer): Promise<void> {
    if (this.closed || this.socket.destroyed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      this.socket.write(data, (error) => {
        if (error) return reject(error);
        this.idleTimer.refresh();
        resolve();
      });
      this.releaseHeld();
    });
  }

  /** Resolves once the socket's buffer drained; rejects if the connection closes first. */
  private drained(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = this.socket;
      const done = (error?: Error) => {
        socket.off('drain', onDrain);
        socket.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(new Error('connection closed'));
      socket.on('drain', onDrain);
      socket.on('close', onClose);
    });
  }
}

/** RETRs handed over at once; bounds the replies a run may queue before pipelined input is read again. */
const MAX_RETR_RUN = 64;
/** Small messages held in the cork before they are written out (and backpressure is checked). */
const HELD_OUTPUT_BYTES = 128 * 1024;
const PLAIN_RETR = /^RETR [1-9][0-9]{0,9}$/i;

function isPlainRetr(event: SessionEvent | undefined): boolean {
  return event?.type === 'SASL_RESPONSE' && PLAIN_RETR.test(event.line);
}

function firstLine(text: string): string {
  const end = text.indexOf('\r\n');
  return end < 0 || end === text.length - 2 ? text : `${text.slice(0, end)} [...]`;
}

/** Resolves once everything written so far (the STLS +OK) has left in plaintext. */
function flushed(socket: Socket): Promise<void> {
  while (socket.writableCorked) socket.uncork();
  return new Promise((resolve) => socket.write('', () => resolve()));
}
