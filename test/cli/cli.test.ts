/**
 * The `node apps/mailnode` command line: help and version, usage errors, configuration errors
 * (one line naming file, line, setting and what was expected; exit 78), a refused users file,
 * command-line overrides, clean shutdown on SIGTERM/SIGINT, and `passwd`.
 */
import { access, readdir, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME, MaildirStore } from '@mailnode/maildir';
import { LineClient } from '../../apps/pop3-server/test/line-client.ts';
import { curl, curlTraced, scanListing, sentCommands } from '../harness/curl-client.ts';
import { describeRun, killAllTools, runTool, type ToolResult } from '../harness/external-tool.ts';
import {
  launchMailnode,
  MAILNODE_MAIN,
  makeTempDir,
  startMailnode,
  stopAllMailnodes,
  testDefaults,
  WORKSPACE,
} from '../harness/mailnode-process.ts';

const clients: LineClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  killAllTools();
  await stopAllMailnodes();
});
afterAll(() => killAllTools());

/** `node apps/mailnode ARGS` run to completion (killed after the timeout). */
function mailnode(args: string[], options: { stdin?: string; cwd?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return runTool(process.execPath, [MAILNODE_MAIN, ...args], { cwd: options.cwd ?? WORKSPACE, stdin: options.stdin, timeoutMs: options.timeoutMs ?? 20_000 });
}

const stderrLines = (result: ToolResult) => result.stderr.split('\n').filter((line) => line.trim() !== '');
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const exists = (path: string) => access(path).then(() => true, () => false);

describe('help and version', () => {
  it('--help exits 0 and documents the options and the passwd command', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const result = await mailnode(args);
      expect(result.code, describeRun(result)).toBe(0);
      expect(result.stderr).toBe('');
      for (const word of ['--config', '--state-dir', '--users', '--pop3 ', '--pop3s', 'passwd', '--scheme', '--password-file', 'SIGTERM']) {
        expect(result.stdout, `${args.join(' ')} mentions ${word}`).toContain(word);
      }
    }
  });

  it('--version prints the version and exits 0', async () => {
    const result = await mailnode(['--version']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/^mailnode \d+\.\d+\.\d+\S*\n$/);
  });

  it('works from any working directory (not only the workspace)', async () => {
    const elsewhere = await makeTempDir('mailnode-cwd-');
    const result = await mailnode(['--version'], { cwd: elsewhere });
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toMatch(/^mailnode \d+\.\d+\.\d+/);
  });

  it('rejects an unknown option, an unknown command and a missing value with one clear line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--bogus'], /--bogus/],
      [['frobnicate'], /frobnicate/],
      [['--pop3'], /--pop3/],
    ];
    for (const [args, mention] of cases) {
      const result = await mailnode(args);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.code).not.toBeNull();
      expect(result.stdout).toBe('');
      const lines = stderrLines(result);
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^mailnode: /);
      expect(lines[0]).toMatch(mention);
    }
  });
});

describe('configuration errors', () => {
  /** A config whose line 6 is `  <line>` inside pop3server (lines 1-5 are fine). */
  async function configWith(line: string): Promise<{ file: string; state: string }> {
    const dir = await makeTempDir('mailnode-badcfg-');
    const state = join(dir, 'state');
    const file = join(dir, 'mailnode.yaml');
    await writeFile(file, ['# a config with one mistake on line 6', `state_dir: ${state}`, 'hostname: localhost', 'pop3server:', '  greet: hello', `  ${line}`, ''].join('\n'), { mode: 0o600 });
    return { file, state };
  }

  const cases: Array<{ name: string; line: string; setting: string; expected: RegExp }> = [
    { name: 'an unknown key', line: 'grete: 1', setting: 'pop3server.grete', expected: /unknown setting/ },
    { name: 'a wrong type', line: 'expire: soon', setting: 'pop3server.expire', expected: /expected number/ },
    { name: 'a bad duration', line: 'timeout: 5 minutes', setting: 'pop3server.timeout', expected: /expected a duration.*5 minutes/ },
    { name: 'a bad authtypes value', line: 'authtypes: USERPASS | TELEPATHY', setting: 'pop3server.authtypes', expected: /expected .*USERPASS.*TELEPATHY/ },
  ];
  for (const { name, line, setting, expected } of cases) {
    it(`reports ${name} as file:line: setting: expectation, exit 78, starting nothing`, async () => {
      const { file, state } = await configWith(line);
      const result = await mailnode(['--config', file]);
      expect(result.code, describeRun(result)).toBe(78);
      const lines = stderrLines(result);
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]!.startsWith(`mailnode: ${file}:6: ${setting}: `), lines[0]).toBe(true);
      expect(lines[0]).toMatch(expected);
      expect(result.stdout).toBe('');
      expect(await exists(state)).toBe(false);
    });
  }

  it('names the line inside a list (pop3server.listeners.0.port)', async () => {
    const dir = await makeTempDir('mailnode-badcfg-');
    const file = join(dir, 'mailnode.yaml');
    await writeFile(file, ['state_dir: state', 'pop3server:', '  listeners:', '    - interface: 127.0.0.1', '      port: eleven', ''].join('\n'), { mode: 0o600 });
    const result = await mailnode(['--config', file]);
    expect(result.code, describeRun(result)).toBe(78);
    const lines = stderrLines(result);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^mailnode: ${escapeRegExp(file)}:5: pop3server\\.listeners\\.0\\.port: expected number`));
  });

  it('names the line of a YAML syntax error (a duplicate key)', async () => {
    const dir = await makeTempDir('mailnode-badcfg-');
    const file = join(dir, 'mailnode.yaml');
    await writeFile(file, ['state_dir: state', 'hostname: localhost', 'pop3server: {}', 'hostname: again', ''].join('\n'), { mode: 0o600 });
    const result = await mailnode(['--config', file]);
    expect(result.code, describeRun(result)).toBe(78);
    const lines = stderrLines(result);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^mailnode: ${escapeRegExp(file)}:4: `));
  });

  it('reports a missing config file in one line naming it, exit 78', async () => {
    const dir = await makeTempDir('mailnode-badcfg-');
    const file = join(dir, 'no-such-config.yaml');
    const result = await mailnode(['--config', file]);
    expect(result.code, describeRun(result)).toBe(78);
    const lines = stderrLines(result);
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toBe(`mailnode: ${file}: config file not found`);
  });

  it('refuses a users file readable by others, naming the file', async () => {
    const dir = await makeTempDir('mailnode-users-');
    const users = join(dir, 'users');
    await writeFile(users, 'alice:pw-alice\n', { mode: 0o644 });
    const state = join(dir, 'state');
    const config = join(dir, 'mailnode.yaml');
    await writeFile(config, JSON.stringify(testDefaults(state, join(dir, 'unused-users'))), { mode: 0o600 });
    const result = await mailnode(['--config', config, '--users', users]);
    expect(result.code, describeRun(result)).toBe(78);
    expect(result.stdout).not.toMatch(/listening:/);
    const summary = stderrLines(result).filter((line) => line.startsWith('mailnode: '));
    expect(summary, result.stderr).toHaveLength(1);
    expect(summary[0]).toContain(users);
    expect(summary[0]).toMatch(/0644|readable/);
  });
});

describe('command-line overrides', () => {
  it('--pop3, --pop3s, --users and --state-dir replace the embedded configuration', async () => {
    const dir = await makeTempDir('mailnode-overrides-');
    const state = join(dir, 'state');
    const users = join(dir, 'users');
    await writeFile(users, 'alice:pw-alice\n', { mode: 0o600 });
    const node = await launchMailnode(['--pop3', '127.0.0.1:0', '--pop3s', '127.0.0.1:0', '--users', users, '--state-dir', state], { dir, stateDir: state });
    expect(node.listeners.map((l) => [l.address, l.kind])).toEqual([
      ['127.0.0.1', 'POP3 (STLS offered)'],
      ['127.0.0.1', 'POP3S (implicit TLS)'],
    ]);
    expect(node.listeners.every((l) => l.port > 0 && l.port !== 1110 && l.port !== 1995)).toBe(true);
    expect(node.stdout()).toContain(`  config:    ${join(WORKSPACE, 'config', 'mailnode.yaml')}`);
    expect(node.stdout()).toContain(`  users:     ${users}\n`);
    expect(node.stdout()).toContain(`  state:     ${state}\n`);

    const message = Buffer.from('Subject: override\r\n\r\nhello\r\n');
    await new MaildirStore({ root: join(state, 'mail'), hostname: 'testdeliver' }).deliver('alice', message);
    const plain = await curl([`pop3://127.0.0.1:${node.ports.pop3}/1`, '-u', 'alice:pw-alice']);
    expect(plain.code, describeRun(plain)).toBe(0);
    expect(plain.stdout).toBe(message.toString());
    const secure = await curl(['--cacert', node.certFile, `pop3s://localhost:${node.ports.pop3s}/`, '-u', 'alice:pw-alice']);
    expect(secure.code, describeRun(secure)).toBe(0);
    expect(scanListing(secure.stdout)).toEqual([[1, String(message.length)]]);
    // The demo users of the embedded config are not in effect.
    const bob = await curl([`pop3://127.0.0.1:${node.ports.pop3}/`, '-u', 'bob:pw-bob']);
    expect(bob.code).toBe(67);
  });
});

describe('listen failures', () => {
  it('exits non-zero with one line naming the address when the port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const dir = await makeTempDir('mailnode-busy-');
      const users = join(dir, 'users');
      await writeFile(users, 'alice:pw-alice\n', { mode: 0o600 });
      const result = await mailnode(['--pop3', `127.0.0.1:${port}`, '--users', users, '--state-dir', join(dir, 'state')]);
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.code).not.toBeNull();
      const lines = stderrLines(result).filter((line) => !line.startsWith('{'));
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^mailnode: .*EADDRINUSE/);
      expect(lines[0]).toContain(`127.0.0.1:${port}`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('signals', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal}: pending deletions are not committed, the session gets -ERR [SYS/TEMP], exit 0`, async () => {
      const node = await startMailnode();
      const store = new MaildirStore({ root: node.mailRoot, hostname: 'testdeliver' });
      for (const n of [1, 2]) await store.deliver('alice', Buffer.from(`Subject: ${n}\r\n\r\nbody ${n}\r\n`));
      const client = await LineClient.connect(node.ports.pop3);
      clients.push(client);
      expect(await client.line()).toMatch(/^\+OK/);
      expect(await client.command('USER alice')).toMatch(/^\+OK/);
      expect(await client.command('PASS pw-alice')).toMatch(/^\+OK Logged in, 2 messages/);
      expect(await client.command('DELE 1')).toMatch(/^\+OK/);
      const idle = await LineClient.connect(node.ports.pop3);
      clients.push(idle);
      expect(await idle.line()).toMatch(/^\+OK/);

      const started = Date.now();
      const stopping = node.stop(signal, 8000);
      expect(await client.line()).toMatch(/^-ERR \[SYS\/TEMP\]/);
      await client.closed();
      expect(await idle.line()).toMatch(/^-ERR \[SYS\/TEMP\]/);
      await idle.closed();
      expect(await stopping).toBe(0);
      expect(Date.now() - started).toBeLessThan(5000);

      const maildir = join(node.mailRoot, 'alice', 'Maildir');
      expect(await readdir(join(maildir, 'cur'))).toHaveLength(2);
      expect(await exists(join(maildir, LOCK_FILE_NAME))).toBe(false);
      expect(node.stderr()).toMatch(new RegExp(`"signal":"${signal}"`));
    });
  }
});

describe('passwd', () => {
  const ARGON2ID = /^\{ARGON2ID\}\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/;
  const SHA512_CRYPT = /^\{SHA512-CRYPT\}\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/;

  it('hashes passwords that then log in with USER/PASS through a running node', async () => {
    const dir = await makeTempDir('mailnode-passwd-');
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, 'pw-erin\n', { mode: 0o600 });
    const [argon, sha, fromFile] = await Promise.all([
      mailnode(['passwd'], { stdin: 'pw-dave\n' }),
      mailnode(['passwd', '-s', 'SHA512-CRYPT'], { stdin: 'pw-dave' }),
      mailnode(['passwd', '--scheme', 'sha512-crypt', '--password-file', passwordFile]),
    ]);
    for (const result of [argon, sha, fromFile]) {
      expect(result.code, describeRun(result)).toBe(0);
      expect(result.stdout.endsWith('\n')).toBe(true);
      expect(result.stdout.split('\n')).toHaveLength(2);
    }
    const argonHash = argon.stdout.trim();
    const shaHash = sha.stdout.trim();
    expect(argonHash).toMatch(ARGON2ID);
    expect(shaHash).toMatch(SHA512_CRYPT);
    expect(fromFile.stdout.trim()).toMatch(SHA512_CRYPT);

    // USERPASS only: curl then logs in with USER/PASS (it prefers SASL when one is offered).
    const node = await startMailnode({
      users: `dave:${argonHash}\ndavid:${shaHash}\nerin:${fromFile.stdout.trim()}\n`,
      config: { pop3server: { authtypes: 'USERPASS' } },
    });
    const base = `pop3://127.0.0.1:${node.ports.pop3}/`;
    for (const [user, password] of [['dave', 'pw-dave'], ['david', 'pw-dave'], ['erin', 'pw-erin']]) {
      const ok = await curlTraced([base, '-u', `${user}:${password}`]);
      expect(ok.code, `${user}: ${describeRun(ok)}`).toBe(0);
      const sent = sentCommands(ok.stderr);
      expect(sent).toContain(`USER ${user}`);
      expect(sent.some((line) => line.startsWith('PASS '))).toBe(true);
      const wrong = await curl([base, '-u', `${user}:wrong-${password}`]);
      expect(wrong.code, describeRun(wrong)).toBe(67);
    }
  });

  it('rejects an unknown scheme and an empty password with one clear line', async () => {
    for (const [args, stdin, mention] of [
      [['passwd', '-s', 'NOPE'], 'secret\n', /NOPE/],
      [['passwd'], '\n', /empty password/],
    ] as const) {
      const result = await mailnode([...args], { stdin });
      expect(result.code, describeRun(result)).not.toBe(0);
      expect(result.stdout).toBe('');
      const lines = stderrLines(result);
      expect(lines, result.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^mailnode: /);
      expect(lines[0]).toMatch(mention);
    }
  });
});
