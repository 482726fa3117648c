import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const workspaceRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** Starts `node --import tsx <fixture> ...args` with piped stdout. */
export function spawnFixture(fixture: string, args: readonly string[]): ChildProcess {
  const script = fileURLToPath(new URL(`./fixtures/${fixture}`, import.meta.url));
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: workspaceRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/** Resolves with the first stdout line that starts with `prefix`. */
export function waitForLine(child: ChildProcess, prefix: string, timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => finish(new Error(`no "${prefix}" line from child within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l, i, all) => i < all.length - 1 && l.startsWith(prefix));
      if (line !== undefined) finish(undefined, line);
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`child exited (${code ?? signal}) before "${prefix}"`));
    function finish(error?: Error, line?: string) {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(line!);
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** SIGKILLs a child and waits until it is gone. */
export async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
}
