/**
 * Runs the real `node apps/mailnode` as a child process for end-to-end tests.
 *
 * startMailnode() writes a config file (JSON, which YAML accepts) merged over test defaults into
 * a fresh temp dir, starts the node, and resolves once the startup summary has listed every
 * listener. Every process started here is remembered: call stopAllMailnodes() in afterEach /
 * afterAll so that none outlives its test (SIGTERM, then SIGKILL after a grace period), and the
 * temp dirs are removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The workspace root (/work/main): the node is started from here as `node apps/mailnode`. */
export const WORKSPACE = fileURLToPath(new URL('../../', import.meta.url));
export const MAILNODE_MAIN = join(WORKSPACE, 'apps', 'mailnode');

export const DEFAULT_USERS = 'alice:pw-alice\nbob:pw-bob\n';

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 4_000;

export interface ListenerLine {
  readonly address: string;
  readonly port: number;
  /** `POP3 (STLS offered)`, `POP3S (implicit TLS)` or `POP3 (plaintext)`. */
  readonly kind: string;
}

export interface MailnodeProcess {
  readonly pid: number;
  /** First STLS-offering listener and first implicit-TLS listener (0 when there is none). */
  readonly ports: { readonly pop3: number; readonly pop3s: number };
  readonly listeners: readonly ListenerLine[];
  /** The temp dir holding config file, users file and (by default) the state dir. */
  readonly dir: string;
  readonly stateDir: string;
  /** Mail root: `<stateDir>/mail`, one `<user>/Maildir` below it. */
  readonly mailRoot: string;
  /** The self-signed certificate the node generated at `<state>/tls/cert.pem`. */
  readonly certFile: string;
  readonly configFile: string | undefined;
  readonly usersFile: string | undefined;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` (SIGTERM), waits; SIGKILL after a grace period. Resolves to the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
  /** SIGKILL, and waits for the process to be gone. */
  kill9(): Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Config settings merged (deeply; arrays replace) over the test defaults. */
  config?: Record<string, unknown>;
  /** Users file content, written mode 0600 (default: alice:pw-alice, bob:pw-bob). */
  users?: string;
  /** Replaces the whole `directory` block (e.g. `{ type: 'ldap', ... }`) instead of merging into the files default. */
  directory?: Record<string, unknown>;
  /** Extra command-line arguments after `--config FILE`. */
  args?: string[];
  /** Reuse this state dir (e.g. a second node after a crash) instead of `<dir>/state`. */
  stateDir?: string;
  /** Wait this long for the startup summary. */
  timeoutMs?: number;
}

interface Tracked {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Tracked>();
const tempDirs = new Set<string>();

export function testDefaults(stateDir: string, usersFile: string): Record<string, unknown> {
  return {
    state_dir: stateDir,
    hostname: 'localhost',
    logging: { level: 'info' },
    directory: { type: 'files', users: usersFile, reload_check: '0s' },
    pop3server: {
      limits: { auth_failure_delay: '0s' },
      listeners: [
        { interface: '127.0.0.1', port: 0, ssl: { latent: 'Y' } },
        { interface: '127.0.0.1', port: 0, ssl: { latent: 'N' } },
      ],
    },
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prior = out[key];
    out[key] = isPlainObject(prior) && isPlainObject(value) ? deepMerge(prior, value) : value;
  }
  return out;
}

/** A fresh temp dir that stopAllMailnodes() removes. */
export async function makeTempDir(prefix = 'mailnode-e2e-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Starts mailnode with a generated config file (see StartOptions). */
export async function startMailnode(options: StartOptions = {}): Promise<MailnodeProcess> {
  const dir = await makeTempDir();
  const stateDir = options.stateDir ?? join(dir, 'state');
  const usersFile = join(dir, 'users');
  await writeFile(usersFile, options.users ?? DEFAULT_USERS, { mode: 0o600 });
  const config = deepMerge(testDefaults(stateDir, usersFile), options.config ?? {});
  if (options.directory) config.directory = options.directory;
  const configFile = join(dir, 'mailnode.yaml');
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return launchMailnode(['--config', configFile, ...(options.args ?? [])], {
    dir,
    stateDir,
    configFile,
    usersFile,
    timeoutMs: options.timeoutMs,
  });
}

/**
 * Starts `node apps/mailnode ARGS` and waits for the startup summary ("Stop with Ctrl-C").
 * Rejects (after killing it) when the process exits first or the summary does not come in time.
 */
export async function launchMailnode(
  args: string[],
  where: { dir?: string; stateDir: string; configFile?: string; usersFile?: string; timeoutMs?: number },
): Promise<MailnodeProcess> {
  const dir = where.dir ?? (await makeTempDir());
  const child = spawn(process.execPath, [MAILNODE_MAIN, ...args], {
    cwd: WORKSPACE,
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  const tracked: Tracked = { child, exited };
  running.add(tracked);
  void exited.then(() => running.delete(tracked));

  const timeoutMs = where.timeoutMs ?? STARTUP_TIMEOUT_MS;
  const summary = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mailnode did not start within ${timeoutMs} ms\nstdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
    child.stdout!.on('data', (chunk: string) => {
      out += chunk;
      if (/^Stop with Ctrl-C/m.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`mailnode exited (code ${code}, signal ${signal}) before it started\nstdout:\n${out}\nstderr:\n${err}`));
    });
  });
  child.stderr!.on('data', (chunk: string) => {
    err += chunk;
  });
  try {
    await summary;
  } catch (error) {
    await terminate(tracked, 'SIGKILL', 0);
    throw error;
  }

  const listeners = parseListeners(out);
  const pid = child.pid!;
  return {
    pid,
    ports: {
      pop3: listeners.find((l) => l.kind === 'POP3 (STLS offered)')?.port ?? 0,
      pop3s: listeners.find((l) => l.kind === 'POP3S (implicit TLS)')?.port ?? 0,
    },
    listeners,
    dir,
    stateDir: where.stateDir,
    mailRoot: join(where.stateDir, 'mail'),
    certFile: join(where.stateDir, 'tls', 'cert.pem'),
    configFile: where.configFile,
    usersFile: where.usersFile,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal: NodeJS.Signals = 'SIGTERM', graceMs = STOP_GRACE_MS) => (await terminate(tracked, signal, graceMs)).code,
    kill9: async () => {
      await terminate(tracked, 'SIGKILL', 0);
    },
    exited,
  };
}

/** `  listening: 127.0.0.1:PORT  KIND` lines of the startup summary. */
export function parseListeners(stdout: string): ListenerLine[] {
  const lines: ListenerLine[] = [];
  for (const match of stdout.matchAll(/^ {2}listening: (.+):(\d+) {2}(.+)$/gm)) {
    lines.push({ address: match[1]!, port: Number(match[2]), kind: match[3]!.trim() });
  }
  return lines;
}

async function terminate(tracked: Tracked, signal: NodeJS.Signals, graceMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { child } = tracked;
  if (child.exitCode !== null || child.signalCode !== null) return tracked.exited;
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
  if (signal !== 'SIGKILL') {
    const timer = setTimeout(() => {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, graceMs);
    const result = await tracked.exited;
    clearTimeout(timer);
    return result;
  }
  return tracked.exited;
}

/** Stops every mailnode this module started (SIGTERM, SIGKILL after a grace period) and removes the temp dirs. */
export async function stopAllMailnodes(): Promise<void> {
  await Promise.all([...running].map((tracked) => terminate(tracked, 'SIGTERM', STOP_GRACE_MS)));
  await Promise.all([...tempDirs].map((dir) => rm(dir, { recursive: true, force: true })));
  tempDirs.clear();
}

/** Polls `check` every `everyMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 5000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
