/**
 * Runs the real `node apps/mailnode fetch --once --config FILE` as a child process for the
 * retriever fault tests: a config file with one client, the JSON log on stderr parsed, the
 * child's peak RSS sampled from /proc, an optional SIGKILL after a delay, and a hard deadline.
 * Every child is remembered; killAllFetches() SIGKILLs any still running (by PID).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MAILNODE_MAIN, WORKSPACE } from '../harness/mailnode-process.ts';

export interface FetchSetup {
  /** Temp dir holding config, users file, password file and the state dir. */
  readonly dir: string;
  readonly configFile: string;
  readonly stateDir: string;
  /** alice's Maildir (`<state>/mail/alice/Maildir`). */
  readonly maildir: string;
  readonly ledgerFile: string;
  readonly clientId: string;
}

export interface FetchConfig {
  readonly address: string;
  readonly username?: string;
  readonly password?: string;
  readonly preserve?: boolean;
  readonly recip?: string;
  readonly clientId?: string;
  /** pop3download.timeout (default 2s). */
  readonly timeout?: string;
  readonly limits?: Record<string, number>;
  /** Extra settings for the client entry. */
  readonly client?: Record<string, unknown>;
  readonly logLevel?: string;
  readonly transcript?: boolean;
}

export async function writeFetchConfig(dir: string, config: FetchConfig): Promise<FetchSetup> {
  await mkdir(dir, { recursive: true });
  const stateDir = join(dir, 'state');
  const usersFile = join(dir, 'users');
  const passwordFile = join(dir, 'password');
  const clientId = config.clientId ?? 'remote';
  await writeFile(usersFile, 'alice:pw-alice\nbob:pw-bob\n', { mode: 0o600 });
  await writeFile(passwordFile, `${config.password ?? 'pw-alice'}\n`, { mode: 0o600 });
  const document = {
    state_dir: stateDir,
    hostname: 'localhost',
    logging: { level: config.logLevel ?? 'info' },
    directory: { type: 'files', users: usersFile, reload_check: '0s' },
    pop3download: {
      timeout: config.timeout ?? '2s',
      delay_start: '0s',
      ...(config.transcript ? { transcript: join(dir, 'transcript.log') } : {}),
      limits: config.limits ?? {},
      clients: [
        {
          id: clientId,
          recip: config.recip ?? 'alice',
          freq: '0s',
          preserve: config.preserve ? 'Y' : 'N',
          server: { address: config.address, username: config.username ?? 'alice', password_file: passwordFile },
          ...config.client,
        },
      ],
    },
  };
  const configFile = join(dir, 'mailnode.yaml');
  await writeFile(configFile, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600 });
  return {
    dir,
    configFile,
    stateDir,
    maildir: join(stateDir, 'mail', 'alice', 'Maildir'),
    ledgerFile: join(stateDir, 'retriever', `${clientId}.uidl`),
    clientId,
  };
}

export interface FetchRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr lines that are JSON log records. */
  readonly log: Array<Record<string, unknown>>;
  readonly elapsedMs: number;
  /** Highest VmHWM seen while it ran (KiB); 0 when never sampled. */
  readonly peakRssKb: number;
  /** We sent SIGKILL (killAfterMs). */
  readonly killed: boolean;
  /** The deadline passed and we killed it. */
  readonly timedOut: boolean;
}

export interface KillControl {
  /** SIGKILL the child now (no-op once it has exited). */
  kill(): void;
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>;
  /** Date.now() at spawn. */
  readonly startedAt: number;
}

export interface FetchRunOptions {
  /** SIGKILL after this many ms (the kill test). */
  readonly killAfterMs?: number;
  /** Called right after spawn: the caller decides when to kill (e.g. relative to the server's login). */
  readonly killer?: (control: KillControl) => void;
  /** Hard deadline: SIGKILL and report timedOut (default 30 s). */
  readonly deadlineMs?: number;
  /** Sample /proc/PID/status every this many ms (default 25). */
  readonly sampleEveryMs?: number;
  readonly args?: readonly string[];
}

const running = new Set<ChildProcess>();

function vmHwmKb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const match = /^VmHWM:\s+(\d+) kB/m.exec(status);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

export function fetchOnce(setup: FetchSetup, options: FetchRunOptions = {}): Promise<FetchRun> {
  const started = Date.now();
  const child = spawn(process.execPath, [MAILNODE_MAIN, 'fetch', '--once', '--config', setup.configFile, ...(options.args ?? [])], {
    cwd: WORKSPACE,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let peak = 0;
  let killed = false;
  let timedOut = false;
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.on('data', (chunk: string) => (stderr += chunk));
  const sampler = setInterval(() => {
    if (child.pid !== undefined && child.exitCode === null) peak = Math.max(peak, vmHwmKb(child.pid));
  }, options.sampleEveryMs ?? 25);
  const killTimer =
    options.killAfterMs === undefined
      ? undefined
      : setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) {
            killed = true;
            child.kill('SIGKILL');
          }
        }, options.killAfterMs);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  options.killer?.({
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        killed = true;
        child.kill('SIGKILL');
      }
    },
    exited,
    startedAt: started,
  });
  const deadline = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) {
      timedOut = true;
      child.kill('SIGKILL');
    }
  }, options.deadlineMs ?? 30_000);
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      clearInterval(sampler);
      clearTimeout(deadline);
      if (killTimer) clearTimeout(killTimer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(deadline);
      if (killTimer) clearTimeout(killTimer);
      running.delete(child);
      const log: Array<Record<string, unknown>> = [];
      for (const line of stderr.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          log.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log record
        }
      }
      resolve({ code, signal, stdout, stderr, log, elapsedMs: Date.now() - started, peakRssKb: peak, killed: killed && signal === 'SIGKILL', timedOut });
    });
  });
}

/** SIGKILL every fetch child still running (by PID). */
export function killAllFetches(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone
    }
  }
}

export function describeFetch(run: FetchRun): string {
  return `exit ${run.code}${run.signal ? ` (${run.signal})` : ''}${run.timedOut ? ' TIMED OUT' : ''} after ${run.elapsedMs} ms\nstdout:\n${run.stdout}\nstderr:\n${run.stderr.slice(0, 4000)}`;
}

/** Regular files in `<maildir>/<sub>` (missing dir: none). */
export function filesIn(maildir: string, sub: 'new' | 'cur' | 'tmp'): string[] {
  try {
    return readdirSync(join(maildir, sub), { withFileTypes: true })
      .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
      .map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Files in new/ and cur/ whose size differs from the S= in their name (a partial message). */
export function partialFiles(maildir: string): string[] {
  const bad: string[] = [];
  for (const sub of ['new', 'cur'] as const) {
    for (const name of filesIn(maildir, sub)) {
      const match = /,S=(\d+)/.exec(name);
      const size = statSync(join(maildir, sub, name)).size;
      if (!match || Number(match[1]) !== size) bad.push(`${sub}/${name} (${size} bytes)`);
    }
  }
  return bad;
}

/** Message-IDs of the messages in new/ ∪ cur/. */
export function messageIdsIn(maildir: string): string[] {
  const ids: string[] = [];
  for (const sub of ['new', 'cur'] as const) {
    for (const name of filesIn(maildir, sub)) {
      const text = readFileSync(join(maildir, sub, name), 'latin1');
      ids.push(/^message-id:[ \t]*(<[^>\r\n]*>)/im.exec(text)?.[1] ?? `?${name}`);
    }
  }
  return ids.sort();
}

/** Log records whose level is warn (40) or worse. */
export function problems(run: FetchRun): Array<Record<string, unknown>> {
  return run.log.filter((record) => Number(record.level) >= 40);
}
