/**
 * Daemon control end to end: `mailnode poll`, `status`, `stop` against a real running node (its
 * control socket), the single-instance guard, and `mailnode check`, with a real Dovecot as the
 * remote server.
 *
 * The first group (transport, CLI and guard) needs no retriever at all. The groups marked
 * "retriever" rely on Retriever.status(), pollNow() and check().
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { describeRun, killAllTools, runTool, type ToolResult } from '../harness/external-tool.ts';
import { freePort } from '../harness/free-port.ts';
import { fixed4k, type GeneratedMessage } from '../harness/mail-generator.ts';
import { launchMailnode, MAILNODE_MAIN, makeTempDir, startMailnode, stopAllMailnodes, testDefaults, waitFor, WORKSPACE, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { dovecotClient, maildirFiles, remoteFiles, remotePassword, copyProblems } from '../retriever/helpers.ts';

/** `node apps/mailnode ARGS`, run to completion. */
function mailnode(args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  return runTool(process.execPath, [MAILNODE_MAIN, ...args], { cwd: WORKSPACE, env: { NODE_OPTIONS: undefined }, timeoutMs });
}

const socketOf = (node: { stateDir: string }) => join(node.stateDir, 'mailnode.sock');
const pidFileOf = (node: { stateDir: string }) => join(node.stateDir, 'mailnode.pid');
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

describe('daemon control: socket, commands and the single-instance guard', () => {
  afterEach(async () => {
    killAllTools();
    await stopAllMailnodes();
  });

  it('creates the control socket owner-only (srw-------), names it in the summary, and writes a pid file', async () => {
    const node = await startMailnode();
    expect(node.stdout()).toContain(`  control:   ${socketOf(node)}\n`);
    const info = await stat(socketOf(node));
    expect(info.isSocket()).toBe(true);
    expect((info.mode & 0o777).toString(8)).toBe('600');
    expect(await readFile(pidFileOf(node), 'utf8')).toBe(`${node.pid}\n`);
    expect(((await stat(pidFileOf(node))).mode & 0o777).toString(8)).toBe('600');
  });

  it('status lists the POP3 listeners with their open sessions', async () => {
    const node = await startMailnode();
    const result = await mailnode(['status', '--config', node.configFile!]);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^mailnode \\S+, pid ${node.pid}, up \\d+s, state dir ${node.stateDir}\n`));
    expect(result.stdout).toContain('retriever clients: none configured');
    expect(result.stdout).toMatch(/^LISTENER +SECURITY +SESSIONS$/m);
    for (const listener of node.listeners) expect(result.stdout).toMatch(new RegExp(`^127\\.0\\.0\\.1:${listener.port} +\\S+ +0$`, 'm'));
    const json = await mailnode(['status', '--json', '--config', node.configFile!]);
    expect(json.code, describeRun(json)).toBe(0);
    const parsed = JSON.parse(json.stdout) as { pid: number; listeners: Array<{ port: number; sessions: number }>; clients: unknown[] };
    expect(parsed.pid).toBe(node.pid);
    expect(parsed.listeners.map((listener) => listener.port).sort()).toEqual(node.listeners.map((listener) => listener.port).sort());
    expect(parsed.clients).toEqual([]);
  });

  it('a second node on the same state dir refuses with a clear message, while the first keeps serving', async () => {
    const first = await startMailnode();
    const second = await mailnode(['--config', first.configFile!]);
    expect(second.code, describeRun(second)).toBe(78);
    const errors = lines(second.stderr).filter((line) => line.startsWith('mailnode: '));
    expect(errors, second.stderr).toEqual([`mailnode: another mailnode is running on state dir ${first.stateDir} (pid ${first.pid}); poll through it with \`mailnode poll\`, or stop it with \`mailnode stop\``]);
    expect(second.stdout).not.toMatch(/listening:/);
    // The first one's pid file, socket and answers are untouched.
    expect(await readFile(pidFileOf(first), 'utf8')).toBe(`${first.pid}\n`);
    const status = await mailnode(['status', '--config', first.configFile!]);
    expect(status.code, describeRun(status)).toBe(0);
    expect(status.stdout).toContain(`pid ${first.pid}`);
  });

  it('two nodes started at the same moment on one state dir: exactly one runs', async () => {
    const dir = await makeTempDir('mailnode-race-');
    const users = join(dir, 'users');
    await writeFile(users, 'alice:pw-alice\n', { mode: 0o600 });
    const configFile = join(dir, 'mailnode.yaml');
    await writeFile(configFile, JSON.stringify(testDefaults(join(dir, 'state'), users)), { mode: 0o600 });
    const launches = await Promise.allSettled([0, 1].map(() => launchMailnode(['--config', configFile], { dir, stateDir: join(dir, 'state') })));
    const started = launches.filter((launch): launch is PromiseFulfilledResult<MailnodeProcess> => launch.status === 'fulfilled');
    expect(started, launches.map((launch) => (launch.status === 'rejected' ? String(launch.reason) : 'started')).join('\n')).toHaveLength(1);
    const refused = launches.find((launch) => launch.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason)).toContain('another mailnode is running on state dir');
  });

  it('stop shuts the node down gracefully: exit 0, socket and pid file gone', async () => {
    const node = await startMailnode();
    const result = await mailnode(['stop', '--config', node.configFile!]);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toBe(`mailnode (pid ${node.pid}) stopped\n`);
    expect((await node.exited).code).toBe(0);
    expect(existsSync(socketOf(node))).toBe(false);
    expect(existsSync(pidFileOf(node))).toBe(false);
    expect(node.stderr()).toMatch(/"request":"mailnode stop".*shutting down/);
  });

  it('with no node running, poll, status and stop exit 69 naming the socket', async () => {
    const node = await startMailnode();
    expect(await node.stop(), node.stderr()).toBe(0);
    for (const command of [['poll'], ['poll', 'some-client'], ['status'], ['status', '--json'], ['stop']]) {
      const result = await mailnode([...command, '--config', node.configFile!]);
      expect(result.code, `${command.join(' ')}: ${describeRun(result)}`).toBe(69);
      expect(result.stdout).toBe('');
      expect(lines(result.stderr)).toEqual([`mailnode: no mailnode running (no control socket at ${socketOf(node)})`]);
    }
    // --state-dir finds the socket like it finds the state dir.
    const elsewhere = await makeTempDir('mailnode-nostate-');
    const byStateDir = await mailnode(['status', '--state-dir', join(elsewhere, 'state')]);
    expect(byStateDir.code, describeRun(byStateDir)).toBe(69);
    expect(byStateDir.stderr).toContain(`no control socket at ${join(elsewhere, 'state', 'mailnode.sock')}`);
  });

  it('a node killed with SIGKILL leaves a stale socket and pid file; the next one takes them over', async () => {
    const first = await startMailnode();
    await first.kill9();
    expect(existsSync(socketOf(first))).toBe(true);
    expect(existsSync(pidFileOf(first))).toBe(true);
    const stale = await mailnode(['status', '--config', first.configFile!]);
    expect(stale.code, describeRun(stale)).toBe(69);
    expect(stale.stderr).toContain('no mailnode running (stale control socket');
    const second = await launchMailnode(['--config', first.configFile!], { dir: first.dir, stateDir: first.stateDir });
    expect(await readFile(pidFileOf(first), 'utf8')).toBe(`${second.pid}\n`);
    const status = await mailnode(['status', '--config', first.configFile!]);
    expect(status.code, describeRun(status)).toBe(0);
    expect(status.stdout).toContain(`pid ${second.pid}`);
  });

  it('refuses a control.socket path too long for a unix socket, naming the setting, before listening', async () => {
    const dir = await makeTempDir('mailnode-longsock-');
    const users = join(dir, 'users');
    await writeFile(users, 'alice:pw-alice\n', { mode: 0o600 });
    const configFile = join(dir, 'mailnode.yaml');
    const socket = join(dir, 'x'.repeat(110), 'mailnode.sock');
    await writeFile(configFile, JSON.stringify({ ...testDefaults(join(dir, 'state'), users), control: { socket } }), { mode: 0o600 });
    const result = await mailnode(['--config', configFile]);
    expect(result.code, describeRun(result)).toBe(78);
    expect(result.stdout).not.toMatch(/listening:/);
    expect(lines(result.stderr).filter((line) => line.startsWith('mailnode: '))[0]).toMatch(/^mailnode: control\.socket .* too long for a unix socket/);
    expect(existsSync(join(dir, 'state', 'mailnode.pid'))).toBe(false);
  });
});

const unavailable = dovecotUnavailableReason();

describe.skipIf(unavailable)('daemon control with retriever clients (retriever: status, pollNow)', () => {
  let dovecot: DovecotInstance;
  let node: MailnodeProcess;
  const mail: Record<string, GeneratedMessage[]> = { remote1: fixed4k(3, 700), remote2: fixed4k(4, 701), remote3: fixed4k(2, 702) };

  beforeAll(async () => {
    dovecot = await startDovecot({ users: Object.keys(mail).map((name) => ({ name, password: remotePassword(name) })) });
    for (const [user, messages] of Object.entries(mail)) await dovecot.fill(user, messages);
    node = await startMailnode({
      config: {
        pop3download: {
          delay_start: '1h', // nothing runs unless polled
          timeout: '15s',
          clients: [
            dovecotClient(dovecot, 'first', 'remote1', { recip: 'alice', freq: '1h' }),
            dovecotClient(dovecot, 'second', 'remote2', { recip: 'bob', freq: '1h' }),
            dovecotClient(dovecot, 'wrongpw', 'remote3', { recip: 'alice', freq: '1h', disabled: 'Y', server: { password: 'not-the-password' } }),
          ],
        },
      },
    });
  }, 90_000);
  afterEach(() => killAllTools());
  afterAll(async () => {
    killAllTools();
    await stopAllMailnodes();
    await dovecot?.stop();
  });

  const run = (...args: string[]) => mailnode([...args, '--config', node.configFile!], 60_000);
  const maildir = (user: string) => join(node.mailRoot, user, 'Maildir');

  it('status shows every client (waiting or disabled, nothing run yet) and the listeners', async () => {
    const result = await run('status');
    expect(result.code, describeRun(result)).toBe(0);
    const table = result.stdout;
    expect(table).toMatch(/^CLIENT +STATE +SERVER +RECIPIENT +LAST SUCCESS +LAST ERROR +NEXT RUN +RUNS +FETCHED +BYTES +DUDS$/m);
    // NEXT RUN is a time of day, with the date in front when it is not today.
    const nextRun = '(?:\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d(?::\\d\\d)?';
    expect(table).toMatch(new RegExp(`^first +waiting +127\\.0\\.0\\.1:${dovecot.plainPort} +alice +- +- +${nextRun} +0 +0 +0 B +0$`, 'm'));
    expect(table).toMatch(new RegExp(`^second +waiting +127\\.0\\.0\\.1:${dovecot.plainPort} +bob +- +- +${nextRun} +0 +0 +0 B +0$`, 'm'));
    expect(table).toMatch(/^wrongpw +disabled /m);
    expect(table).toMatch(new RegExp(`^127\\.0\\.0\\.1:${node.ports.pop3} +\\S+ +0$`, 'm'));
  });

  it('poll of one client downloads its mail now and prints the result', async () => {
    const result = await run('poll', 'first');
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/^first: ok, 3 messages, [\d.]+ kB, 3 deleted from the server\n$/);
    expect(copyProblems(await maildirFiles(maildir('alice')), mail.remote1!, { received: 'required', recip: 'alice' })).toEqual([]);
    expect(await remoteFiles(dovecot, 'remote1')).toHaveLength(0);
    // The other clients were not polled.
    expect(await remoteFiles(dovecot, 'remote2')).toHaveLength(4);
  });

  it('status --json reflects the poll: totals and last success', async () => {
    const result = await run('status', '--json');
    expect(result.code, describeRun(result)).toBe(0);
    const status = JSON.parse(result.stdout) as { clients: Array<{ id: string; lastSuccessAt?: string; totals: { runs: number; fetched: number; bytes: number } }> };
    const first = status.clients.find((client) => client.id === 'first')!;
    const second = status.clients.find((client) => client.id === 'second')!;
    expect(first.totals).toMatchObject({ runs: 1, fetched: 3 });
    expect(first.totals.bytes).toBeGreaterThan(3 * 4000);
    expect(Date.now() - Date.parse(first.lastSuccessAt!)).toBeLessThan(60_000);
    expect(second.lastSuccessAt).toBeUndefined();
    expect(second.totals).toMatchObject({ runs: 0, fetched: 0 });
  });

  it('poll with no ids polls every enabled client', async () => {
    const result = await run('poll');
    expect(result.code, describeRun(result)).toBe(0);
    expect(lines(result.stdout).sort()).toEqual(['first: ok, 0 messages, 0 B, 0 deleted from the server', expect.stringMatching(/^second: ok, 4 messages, [\d.]+ kB, 4 deleted from the server$/)]);
    expect(await maildirFiles(maildir('bob'))).toHaveLength(4);
    expect(await remoteFiles(dovecot, 'remote2')).toHaveLength(0);
    expect(await remoteFiles(dovecot, 'remote3')).toHaveLength(2); // disabled: not polled
  });

  it('poll of a failing client prints FAILED and exits 1; the error shows in status', async () => {
    const result = await run('poll', 'wrongpw');
    expect(result.code, describeRun(result)).toBe(1);
    expect(result.stdout).toMatch(/^wrongpw: FAILED: .+\(0 messages, 0 B, 0 deleted from the server\)\n$/);
    expect(await remoteFiles(dovecot, 'remote3')).toHaveLength(2);
    const status = await run('status');
    expect(status.stdout).toMatch(/^wrongpw +disabled +\S+ +alice +- +\d\d:\d\d:\d\d \S/m);
  });

  it('poll of an unknown client exits 64 with the node\'s message, polling nothing', async () => {
    const result = await run('poll', 'first', 'nosuch', 'other');
    expect(result.code, describeRun(result)).toBe(64);
    expect(result.stdout).toBe('');
    expect(lines(result.stderr)).toEqual(['mailnode: no such retriever client: nosuch, other']);
  });

  it('a node stopped while idle after polls exits 0 (stop via the socket)', async () => {
    const stop = await run('stop');
    expect(stop.code, describeRun(stop)).toBe(0);
    expect((await node.exited).code).toBe(0);
    await waitFor('the socket file to go', () => !existsSync(join(node.stateDir, 'mailnode.sock')));
  });
});

describe.skipIf(unavailable)('mailnode check (retriever: check)', () => {
  let dovecot: DovecotInstance;
  let configFile: string;
  let stateDir: string;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ name: 'remote', password: remotePassword('remote') }] });
    await dovecot.fill('remote', fixed4k(5, 710));
    const dir = await makeTempDir('mailnode-check-');
    stateDir = join(dir, 'state');
    const users = join(dir, 'users');
    await writeFile(users, 'alice:pw-alice\n', { mode: 0o600 });
    const deadPort = await freePort();
    configFile = join(dir, 'mailnode.yaml');
    const config = {
      ...testDefaults(stateDir, users),
      pop3server: { enabled: 'N' },
      pop3download: {
        timeout: '10s',
        clients: [
          dovecotClient(dovecot, 'good', 'remote'),
          dovecotClient(dovecot, 'badpass', 'remote', { server: { password: 'wrong' } }),
          dovecotClient(dovecot, 'deadport', 'remote', { server: { address: `127.0.0.1:${deadPort}` } }),
        ],
      },
    };
    await writeFile(configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
  }, 60_000);
  afterEach(() => killAllTools());
  afterAll(async () => {
    killAllTools();
    await stopAllMailnodes();
    await dovecot?.stop();
  });

  it('reports recipient, connection and login per client, downloads nothing, and exits 1 when one failed', async () => {
    const result = await mailnode(['check', '--config', configFile], 60_000);
    expect(result.code, describeRun(result)).toBe(1);
    const out = result.stdout;
    expect(out).toContain(`config: ${configFile}: ok\n`);
    expect(out).toMatch(new RegExp(`^good \\(127\\.0\\.0\\.1:${dovecot.plainPort}\\): ok\n  recipient +ok +.*alice.*\n  connect +ok .*\n  login +ok +5 messages, [\\d.]+ kB`, 'm'));
    expect(out).toMatch(/^badpass \(.*\): FAILED\n  recipient +ok .*\n  connect +ok .*\n  login +FAILED +\S/m);
    expect(out).toMatch(/^deadport \(.*\): FAILED\n  recipient +ok .*\n  connect +FAILED +\S.*\n  login +FAILED/m);
    expect(out).toMatch(/^3 clients checked: 1 passed, 2 failed$/m);
    expect(await remoteFiles(dovecot, 'remote')).toHaveLength(5);
    expect(await maildirFiles(join(stateDir, 'mail', 'alice', 'Maildir'))).toHaveLength(0);
  });

  it('exits 0 when every named client passes, 64 for an unknown id, 78 for a broken config', async () => {
    const good = await mailnode(['check', 'good', '--config', configFile], 60_000);
    expect(good.code, describeRun(good)).toBe(0);
    expect(good.stdout).toMatch(/^1 client checked: 1 passed, 0 failed$/m);
    const unknown = await mailnode(['check', 'nosuch', '--config', configFile]);
    expect(unknown.code, describeRun(unknown)).toBe(64);
    expect(lines(unknown.stderr).filter((line) => line.startsWith('mailnode: '))).toEqual(['mailnode: no such retriever client: nosuch']);
    const broken = join(stateDir, '..', 'broken.yaml');
    await writeFile(broken, 'pop3download:\n  clients:\n    - id: x\n      frek: 1\n', { mode: 0o600 });
    const invalid = await mailnode(['check', '--config', broken]);
    expect(invalid.code, describeRun(invalid)).toBe(78);
  });
});
