/**
 * The POP3 load client of `npm run bench`: raw sockets, one event loop, treats every server
 * alike (only RFC 1939/2449 behaviour is assumed). Concurrency comes from async sockets, not
 * threads: the client shares the machine's cores with the servers it measures, so it must stay
 * lean; each measurement reports the client's own CPU so a client bottleneck shows.
 *
 *   login  sessions/s of connect + greeting + USER/PASS + STAT + QUIT with C concurrent clients,
 *          bounded by a session count and a time limit; p50/p99 latency
 *   retr   one session RETRs a whole mailbox lock-step (one command in flight) or pipelined
 *          (a window of commands in flight, only if CAPA lists PIPELINING); msgs/s, MB/s on the
 *          wire; every message is checked afterwards (outside the timing) against the manifest
 *   idle   opens N logged-in sessions (distinct users), holds them, measures the server's
 *          process tree RSS/PSS before and at peak, probes liveness with NOOP, then QUITs all
 */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { treeCpuSeconds, treeMemory, type TreeMemory } from '../../test/harness/proc-stats.ts';

export interface Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** Root of the server's process tree, for CPU and memory. */
  readonly pid: number;
}

export interface Account {
  readonly user: string;
  readonly password: string;
}

export class Pop3Error extends Error {
  override readonly name = 'Pop3Error';
}

export interface Reply {
  readonly ok: boolean;
  readonly line: string;
  /** Multi-line data as received (still dot-stuffed, CRLF), without the terminator: chunks in order. */
  readonly data?: Buffer[];
}

interface Pending {
  readonly multi: boolean;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: Error) => void;
}

const CRLF = Buffer.from('\r\n');
const TERMINATOR = Buffer.from('\r\n.\r\n');

/**
 * One POP3 connection with a queue of outstanding commands, so it can pipeline. Replies are
 * parsed straight from the socket chunks: multi-line data is kept as slices of those chunks
 * (no copying while timing), the terminator is found even when split across chunks.
 */
export class Pop3Conn {
  /** Bytes received on this connection. */
  wireBytes = 0;
  greeting = '';
  private readonly pending: Pending[] = [];
  private head = 0;
  private partial: Buffer | null = null;
  private inData = false;
  private dataParts: Buffer[] = [];
  /** Last bytes of the data so far (seeded with the status line's CRLF). */
  private tail: Buffer = CRLF;
  private out: string[] = [];
  private flushQueued = false;
  private failure: Error | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Pop3Error('connection closed by server')));
    socket.on('timeout', () => {
      this.fail(new Pop3Error('timeout'));
      socket.destroy();
    });
  }

  /** Connects and reads the greeting (which must be +OK). */
  static open(host: string, port: number, timeoutMs = 30_000): Promise<Pop3Conn> {
    const socket = connect({ host, port, noDelay: true });
    socket.setTimeout(timeoutMs);
    const conn = new Pop3Conn(socket);
    return conn.expect(false).then((reply) => {
      conn.greeting = reply.line;
      if (!reply.ok) throw new Pop3Error(`greeting: ${reply.line.slice(0, 80)}`);
      return conn;
    });
  }

  get outstanding(): number {
    return this.pending.length - this.head;
  }

  /** Sends a command (batched with others issued in the same tick) and resolves with its reply. */
  request(command: string, multi = false): Promise<Reply> {
    const promise = this.expect(multi);
    this.out.push(`${command}\r\n`);
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flush());
    }
    return promise;
  }

  /** A command that must succeed; resolves with its status line. */
  async ok(command: string): Promise<string> {
    const reply = await this.request(command);
    if (!reply.ok) throw new Pop3Error(`${command.split(' ')[0]} -> ${reply.line.slice(0, 80)}`);
    return reply.line;
  }

  /** A multi-line command that must succeed; resolves with its data. */
  async multi(command: string): Promise<Buffer[]> {
    const reply = await this.request(command, true);
    if (!reply.ok) throw new Pop3Error(`${command.split(' ')[0]} -> ${reply.line.slice(0, 80)}`);
    return reply.data!;
  }

  async login(account: Account): Promise<void> {
    await this.ok(`USER ${account.user}`);
    await this.ok(`PASS ${account.password}`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private expect(multi: boolean): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.pending.push({ multi, resolve, reject }));
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.socket.destroyed) return;
    const text = this.out.length === 1 ? this.out[0]! : this.out.join('');
    this.out = [];
    this.socket.write(text);
  }

  private fail(error: Error): void {
    if (!this.failure) this.failure = error;
    while (this.head < this.pending.length) this.pending[this.head++]!.reject(this.failure);
    this.compact();
  }

  private next(): Pending | undefined {
    return this.pending[this.head];
  }

  private settle(reply: Reply): void {
    const waiter = this.pending[this.head++]!;
    this.compact();
    waiter.resolve(reply);
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
  }

  private receive(chunk: Buffer): void {
    this.wireBytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.inData) {
        offset = this.receiveData(chunk, offset);
        if (offset < 0) return;
        continue;
      }
      const waiter = this.next();
      if (!waiter) {
        this.fail(new Pop3Error(`unexpected data from server: ${chunk.subarray(offset, offset + 60).toString('latin1')}`));
        this.socket.destroy();
        return;
      }
      // Status line.
      let line: string;
      if (this.partial) {
        const joined = Buffer.concat([this.partial, chunk.subarray(offset)]);
        const end = joined.indexOf(CRLF);
        if (end < 0) {
          this.partial = joined;
          return;
        }
        line = joined.toString('latin1', 0, end);
        offset += end + 2 - this.partial.length;
        this.partial = null;
      } else {
        const end = chunk.indexOf(CRLF, offset);
        if (end < 0) {
          this.partial = Buffer.from(chunk.subarray(offset));
          return;
        }
        line = chunk.toString('latin1', offset, end);
        offset = end + 2;
      }
      const ok = line.startsWith('+OK');
      if (waiter.multi && ok) {
        this.inData = true;
        this.dataParts = [];
        this.tail = CRLF;
        this.pendingLine = line;
      } else {
        this.settle({ ok: ok || (line.startsWith('+') && !waiter.multi), line });
      }
    }
  }

  private pendingLine = '';

  private trimData(bytes: number): void {
    let left = bytes;
    while (left > 0 && this.dataParts.length > 0) {
      const last = this.dataParts[this.dataParts.length - 1]!;
      if (last.length <= left) {
        this.dataParts.pop();
        left -= last.length;
      } else {
        this.dataParts[this.dataParts.length - 1] = last.subarray(0, last.length - left);
        left = 0;
      }
    }
  }

  /** Consumes multi-line data from chunk[offset..]; returns the offset after it, or -1 when the chunk ran out. */
  private receiveData(chunk: Buffer, offset: number): number {
    const tail = this.tail;
    // A terminator straddling the previous data and this chunk.
    const probe = Buffer.concat([tail, chunk.subarray(offset, offset + 5)]);
    const straddle = probe.indexOf(TERMINATOR);
    let end: number;
    let next: number;
    if (straddle >= 0 && straddle < tail.length) {
      // Bytes of ".\r\n" already stored as data (the CRLF before them belongs to the data).
      this.trimData(Math.max(0, tail.length - straddle - 2));
      end = Math.max(offset, offset + straddle + 2 - tail.length);
      next = offset + straddle + 5 - tail.length;
    } else {
      const at = chunk.indexOf(TERMINATOR, offset);
      if (at < 0) {
        if (offset < chunk.length) this.dataParts.push(chunk.subarray(offset));
        const rest = chunk.subarray(Math.max(offset, chunk.length - 4));
        this.tail = rest.length >= 4 ? rest : Buffer.concat([tail, rest]).subarray(-4);
        return -1;
      }
      end = at + 2;
      next = at + 5;
    }
    if (end > offset) this.dataParts.push(chunk.subarray(offset, end));
    const data = this.dataParts;
    this.dataParts = [];
    this.inData = false;
    this.settle({ ok: true, line: this.pendingLine, data });
    return next;
  }
}

/** Dot-unstuffs multi-line data and turns CRLF into LF: the stored message again. */
export function decodeData(parts: readonly Buffer[]): Buffer {
  const raw = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  let text = raw.toString('latin1');
  if (text.startsWith('..')) text = text.slice(1);
  text = text.replaceAll('\r\n..', '\r\n.').replaceAll('\r\n', '\n');
  return Buffer.from(text, 'latin1');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function clientCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function errorKind(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return `${e.code ?? e.name ?? 'Error'}: ${String(e.message ?? e).slice(0, 60)}`;
}

// ---- login ------------------------------------------------------------------------------------

export interface LoginResult {
  readonly concurrency: number;
  readonly ok: number;
  readonly errors: number;
  readonly errorKinds: Record<string, number>;
  readonly seconds: number;
  readonly sessionsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly serverCpuSeconds: number;
  /** Server CPU per successful session, ms. */
  readonly serverCpuMsPerSession: number;
  readonly clientCpuSeconds: number;
  /** Client CPU / elapsed: near 1.0 means the (single-threaded) client is the bottleneck. */
  readonly clientCpuShare: number;
}

export interface LoginOptions {
  readonly concurrency: number;
  readonly maxSessions: number;
  readonly maxSeconds: number;
  readonly accounts: readonly Account[];
  readonly timeoutMs?: number;
}

/** One login session: connect, greeting, USER/PASS, STAT, QUIT. */
async function loginSession(target: Target, account: Account, timeoutMs: number): Promise<void> {
  const conn = await Pop3Conn.open(target.host, target.port, timeoutMs);
  try {
    await conn.login(account);
    await conn.ok('STAT');
    await conn.ok('QUIT');
  } finally {
    conn.destroy();
  }
}

export async function measureLogins(target: Target, options: LoginOptions): Promise<LoginResult> {
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  let started = 0;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const cpu0 = treeCpuSeconds(target.pid);
  const client0 = clientCpuSeconds();
  const t0 = performance.now();
  const deadline = t0 + options.maxSeconds * 1000;
  // Accounts are lent to one session at a time and returned to the back of the queue: no two
  // concurrent sessions share a mailbox (a server may lock it), and all accounts are used evenly.
  const free = [...options.accounts];
  const waiting: Array<(account: Account) => void> = [];
  const take = (): Promise<Account> | Account => free.shift() ?? new Promise<Account>((resolve) => waiting.push(resolve));
  const give = (account: Account) => {
    const next = waiting.shift();
    if (next) next(account);
    else free.push(account);
  };
  const worker = async () => {
    while (started < options.maxSessions && performance.now() < deadline) {
      started++;
      const account = await take();
      const s0 = performance.now();
      try {
        await loginSession(target, account, timeoutMs);
        latencies.push(performance.now() - s0);
      } catch (error) {
        const kind = errorKind(error);
        errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
      } finally {
        give(account);
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const clientCpu = clientCpuSeconds() - client0;
  const serverCpu = treeCpuSeconds(target.pid) - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    concurrency: options.concurrency,
    ok: latencies.length,
    errors: started - latencies.length,
    errorKinds,
    seconds: round(seconds, 3),
    sessionsPerSecond: round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 0.5), 2),
    p99Ms: round(percentile(latencies, 0.99), 2),
    serverCpuSeconds: round(serverCpu, 2),
    serverCpuMsPerSession: latencies.length ? round((serverCpu * 1000) / latencies.length, 2) : Number.NaN,
    clientCpuSeconds: round(clientCpu, 2),
    clientCpuShare: round(clientCpu / seconds, 2),
  };
}

// ---- retr -------------------------------------------------------------------------------------

export interface RetrResult {
  readonly mode: string;
  readonly skipped?: string;
  readonly msgs: number;
  readonly seconds: number;
  readonly msgsPerSecond: number;
  /** Octets received during the RETRs (status lines + dot-stuffed CRLF data), 10^6. */
  readonly mb: number;
  readonly mbPerSecond: number;
  readonly serverCpuSeconds: number;
  readonly serverCpuUsPerMsg: number;
  readonly clientCpuSeconds: number;
  readonly clientCpuShare: number;
  /** 'OK n=N' or what did not match. */
  readonly verify: string;
}

export interface RetrOptions {
  readonly account: Account;
  readonly pipelined: boolean;
  readonly window: number;
  /** sha256 of every expected message (LF line ends): the mailbox must hold exactly these. */
  readonly expected?: readonly string[];
  readonly timeoutMs?: number;
}

export async function measureRetr(target: Target, options: RetrOptions): Promise<RetrResult> {
  const mode = options.pipelined ? `pipelined(w=${options.window})` : 'lock-step';
  const conn = await Pop3Conn.open(target.host, target.port, options.timeoutMs ?? 120_000);
  try {
    await conn.login(options.account);
    const capa = (await conn.request('CAPA', true)).data ?? [];
    const capabilities = decodeData(capa).toString('latin1').toUpperCase().split('\n');
    if (options.pipelined && !capabilities.includes('PIPELINING')) {
      await conn.ok('QUIT');
      return { mode, skipped: 'server does not advertise PIPELINING', msgs: 0, seconds: 0, msgsPerSecond: 0, mb: 0, mbPerSecond: 0, serverCpuSeconds: 0, serverCpuUsPerMsg: 0, clientCpuSeconds: 0, clientCpuShare: 0, verify: '-' };
    }
    const list = decodeData(await conn.multi('LIST')).toString('latin1').split('\n').filter(Boolean);
    const count = list.length;
    const bodies: Buffer[][] = new Array(count);
    const cpu0 = treeCpuSeconds(target.pid);
    const client0 = clientCpuSeconds();
    const wire0 = conn.wireBytes;
    const t0 = performance.now();
    if (!options.pipelined) {
      for (let i = 1; i <= count; i++) bodies[i - 1] = await conn.multi(`RETR ${i}`);
    } else {
      await new Promise<void>((resolve, reject) => {
        let next = 1;
        let done = 0;
        let failed = false;
        const issue = () => {
          while (!failed && next <= count && conn.outstanding < options.window) {
            const i = next++;
            conn.multi(`RETR ${i}`).then(
              (data) => {
                bodies[i - 1] = data;
                if (++done === count) resolve();
                else issue();
              },
              (error: unknown) => {
                failed = true;
                reject(error as Error);
              },
            );
          }
        };
        if (count === 0) resolve();
        else issue();
      });
    }
    const seconds = (performance.now() - t0) / 1000;
    const clientCpu = clientCpuSeconds() - client0;
    const serverCpu = treeCpuSeconds(target.pid) - cpu0;
    const wire = conn.wireBytes - wire0;
    await conn.ok('QUIT');
    return {
      mode,
      msgs: count,
      seconds: round(seconds, 3),
      msgsPerSecond: round(count / seconds),
      mb: round(wire / 1e6, 2),
      mbPerSecond: round(wire / 1e6 / seconds),
      serverCpuSeconds: round(serverCpu, 2),
      serverCpuUsPerMsg: count ? round((serverCpu * 1e6) / count, 0) : 0,
      clientCpuSeconds: round(clientCpu, 2),
      clientCpuShare: round(clientCpu / seconds, 2),
      verify: options.expected ? verifyBodies(bodies, options.expected) : '-',
    };
  } finally {
    conn.destroy();
  }
}

/** Every retrieved message, un-stuffed and LF-normalised, must be one of `expected` (as a multiset). */
export function verifyBodies(bodies: readonly Buffer[][], expected: readonly string[]): string {
  const want = new Map<string, number>();
  for (const sha of expected) want.set(sha, (want.get(sha) ?? 0) + 1);
  let bad = 0;
  for (const parts of bodies) {
    const sha = sha256(decodeData(parts));
    const left = want.get(sha) ?? 0;
    if (left === 0) bad++;
    else want.set(sha, left - 1);
  }
  const missing = [...want.values()].reduce((a, b) => a + b, 0);
  return bad === 0 && missing === 0 ? `OK n=${bodies.length}` : `MISMATCH got=${bodies.length} want=${expected.length} unknown=${bad} missing=${missing}`;
}

// ---- idle -------------------------------------------------------------------------------------

export interface IdleResult {
  readonly target: number;
  readonly opened: number;
  readonly openSeconds: number;
  readonly stoppedBy: string;
  readonly holdSeconds: number;
  readonly aliveAfterHold: number;
  readonly before: TreeMemory;
  readonly peak: TreeMemory;
  readonly rssKbPerSession: number;
  readonly pssKbPerSession: number;
  readonly processesPerSession: number;
}

export interface IdleOptions {
  readonly accounts: readonly Account[];
  /** Sessions opened in parallel while ramping up. */
  readonly rampConcurrency: number;
  readonly maxSeconds: number;
  readonly holdSeconds: number;
  readonly timeoutMs?: number;
}

export async function measureIdle(target: Target, options: IdleOptions): Promise<IdleResult> {
  const before = treeMemory(target.pid);
  const conns: Pop3Conn[] = [];
  const t0 = performance.now();
  const deadline = t0 + options.maxSeconds * 1000;
  let index = 0;
  let consecutiveFailures = 0;
  let stoppedBy = 'all opened';
  const timeoutMs = options.timeoutMs ?? 30_000;
  const worker = async () => {
    while (index < options.accounts.length && consecutiveFailures < 3) {
      if (performance.now() > deadline) {
        stoppedBy = 'time limit';
        return;
      }
      const account = options.accounts[index++]!;
      let conn: Pop3Conn | undefined;
      try {
        conn = await Pop3Conn.open(target.host, target.port, timeoutMs);
        await conn.login(account);
        // Idle: no timeout on our side while held.
        conn.socket.setTimeout(0);
        conns.push(conn);
        consecutiveFailures = 0;
      } catch (error) {
        conn?.destroy();
        consecutiveFailures++;
        stoppedBy = `${errorKind(error)} (after ${conns.length} open)`;
      }
    }
  };
  await Promise.all(Array.from({ length: options.rampConcurrency }, worker));
  const openSeconds = (performance.now() - t0) / 1000;
  await sleep(options.holdSeconds * 1000);
  const peak = treeMemory(target.pid);
  // Liveness: every held session must still answer NOOP.
  const probes = await Promise.allSettled(
    conns.map((conn) => {
      conn.socket.setTimeout(15_000);
      return conn.ok('NOOP');
    }),
  );
  const alive = probes.filter((p) => p.status === 'fulfilled').length;
  // Log out politely (mailnode releases its mailbox locks on QUIT), in batches, then close.
  for (let i = 0; i < conns.length; i += 256) {
    await Promise.allSettled(conns.slice(i, i + 256).map((conn) => conn.ok('QUIT')));
  }
  for (const conn of conns) conn.destroy();
  const n = conns.length || 1;
  return {
    target: options.accounts.length,
    opened: conns.length,
    openSeconds: round(openSeconds, 2),
    stoppedBy,
    holdSeconds: options.holdSeconds,
    aliveAfterHold: alive,
    before,
    peak,
    rssKbPerSession: round((peak.rssKb - before.rssKb) / n),
    pssKbPerSession: round((peak.pssKb - before.pssKb) / n),
    processesPerSession: round((peak.processes - before.processes) / n, 3),
  };
}
