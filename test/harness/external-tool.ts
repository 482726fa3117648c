/**
 * Runs an external program (curl, mpop, fetchmail, openssl) with arguments, stdin, environment
 * and a timeout. The program gets its own process group; on timeout that group is sent SIGTERM,
 * then SIGKILL, so helpers it spawned (an MDA, a shell) die with it. killAllTools() ends any
 * still running (call it in afterEach).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ToolOptions {
  /** Written to the program's stdin, which is then closed. */
  stdin?: string | Buffer;
  /** Merged over the environment (undefined values remove a variable). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Default 20 s. */
  timeoutMs?: number;
}

export interface ToolResult {
  /** Exit code; null when a signal ended the program. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** stdout decoded as UTF-8 (use stdoutBytes for byte comparisons). */
  readonly stdout: string;
  readonly stdoutBytes: Buffer;
  readonly stderr: string;
  readonly timedOut: boolean;
}

const running = new Set<ChildProcess>();

/** Variables that would make TLS clients trust more than a test intends, or read user config. */
const SCRUBBED = ['SSL_CERT_FILE', 'SSL_CERT_DIR', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'http_proxy', 'https_proxy', 'all_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY'];

export function runTool(command: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !SCRUBBED.includes(key)) env[key] = value;
  env.LC_ALL = 'C';
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    running.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout!.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGTERM');
      setTimeout(() => killGroup(child, 'SIGKILL'), 2000).unref();
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      running.delete(child);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({
        code,
        signal,
        stdoutBytes: Buffer.concat(out),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
      });
    });
    child.stdin!.on('error', () => {});
    child.stdin!.end(options.stdin ?? '');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Kills every tool still running (its whole process group), SIGKILL. */
export function killAllTools(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
}

/** For failure messages: what ran and what it said. */
export function describeRun(result: ToolResult): string {
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ''}${result.timedOut ? ' TIMED OUT' : ''}\nstderr:\n${result.stderr}\nstdout:\n${result.stdout.slice(0, 2000)}`;
}
