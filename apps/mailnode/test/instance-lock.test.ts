/**
 * The single-instance guard (<state_dir>/mailnode.pid): one winner even when several processes
 * start at the same instant over a stale pid file; stale files (dead pid, pid reused by another
 * program, our own pid) are taken over; a live holder is named.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlreadyRunningError, InstanceLock, isMailnodeNode, PID_FILE_NAME } from '../src/control/instance-lock.ts';

const LOCK_MODULE = fileURLToPath(new URL('../src/control/instance-lock.ts', import.meta.url));
const WORKSPACE = fileURLToPath(new URL('../../../', import.meta.url));
let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  // The directory name contains "mailnode", so the helper processes below look like nodes.
  dir = await mkdtemp(join(tmpdir(), 'mailnode-lock-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

/** A process that takes the lock at `at` (epoch ms), reports, and holds it for `holdMs`. */
async function contender(at: number, holdMs: number): Promise<{ child: ChildProcess; report: Promise<string> }> {
  const script = join(dir, `contender-${children.length}.mts`); // .mts: ESM, for the top-level await
  await writeFile(
    script,
    `import { InstanceLock } from ${JSON.stringify(LOCK_MODULE)};
await new Promise((resolve) => setTimeout(resolve, ${at} - Date.now()));
try {
  await InstanceLock.acquire(${JSON.stringify(dir)});
  console.log('won');
  await new Promise((resolve) => setTimeout(resolve, ${holdMs}));
} catch (error) {
  console.log('lost: ' + error.message);
}
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: WORKSPACE, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { child, report: new Promise((resolve) => child.stdout!.once('end', () => resolve(out.trim()))) };
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('instance lock', () => {
  it('writes our pid, owner-only, and removes it on release', async () => {
    const lock = await InstanceLock.acquire(dir);
    const path = join(dir, PID_FILE_NAME);
    expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
    lock.release();
    expect(existsSync(path)).toBe(false);
    expect(existsSync(`${path}.${process.pid}.tmp`)).toBe(false);
  });

  for (const [name, content] of [
    ['a dead pid', async () => `${await deadPid()}\n`],
    ['our own pid (a container restarted with the same pid)', async () => `${process.pid}\n`],
    ['garbage', async () => 'not a pid\n'],
  ] as const) {
    it(`takes over a pid file holding ${name}`, async () => {
      await writeFile(join(dir, PID_FILE_NAME), await content());
      const lock = await InstanceLock.acquire(dir);
      expect(await readFile(join(dir, PID_FILE_NAME), 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
    });
  }

  it('takes over a pid reused by a program that is not mailnode (/proc/PID/cmdline)', async () => {
    const sleeper = spawn('sleep', ['30']);
    children.push(sleeper);
    await writeFile(join(dir, PID_FILE_NAME), `${sleeper.pid}\n`);
    const lock = await InstanceLock.acquire(dir);
    lock.release();
  });

  it('refuses while a live mailnode holds it, naming state dir and pid', async () => {
    const holder = await contender(Date.now(), 20_000);
    await new Promise<void>((resolve) => holder.child.stdout!.once('data', () => resolve()));
    const error = await InstanceLock.acquire(dir).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AlreadyRunningError);
    expect((error as Error).message).toBe(`another mailnode is running on state dir ${dir} (pid ${holder.child.pid}); poll through it with \`mailnode poll\`, or stop it with \`mailnode stop\``);
  });

  it('lets exactly one of five processes starting at the same instant win, over a stale pid file', async () => {
    await writeFile(join(dir, PID_FILE_NAME), `${await deadPid()}\n`);
    const at = Date.now() + 2500; // after every process has loaded
    const contenders = await Promise.all([0, 1, 2, 3, 4].map(() => contender(at, 3000)));
    const reports = await Promise.all(contenders.map((c) => c.report));
    expect(reports.filter((report) => report === 'won'), reports.join('\n')).toHaveLength(1);
    for (const report of reports.filter((r) => r !== 'won')) expect(report).toMatch(/^lost: another mailnode is running on state dir/);
    expect(existsSync(join(dir, PID_FILE_NAME))).toBe(false); // released on exit
  });

  it('tells mailnode nodes from mailnode commands and other programs', () => {
    expect(isMailnodeNode(['node', '/srv/mailnode/apps/mailnode', '--config', 'x.yaml'])).toBe(true);
    expect(isMailnodeNode(['node', '/srv/mailnode/apps/mailnode', 'run'])).toBe(true);
    expect(isMailnodeNode(['node', '/srv/mailnode/apps/mailnode', 'status'])).toBe(false);
    expect(isMailnodeNode(['sleep', '30'])).toBe(false);
  });
});
