import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseAuthTypes, parseDuration, parseListenAddress } from '../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailnode-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function configFile(text: string, mode = 0o600): Promise<string> {
  const file = join(dir, 'mailnode.yaml');
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('no ConfigError');
}

describe('values in Mailismus form', () => {
  it('parses durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('4h')).toBe(14_400_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration(5)).toBe(5000);
    expect(parseDuration('5 minutes')).toBeNull();
    expect(parseDuration('-1s')).toBeNull();
  });

  it('parses login-method lists, all and -', () => {
    expect([...(parseAuthTypes('USERPASS | sasl_plain') as Set<string>)]).toEqual(['USERPASS', 'SASL_PLAIN']);
    expect((parseAuthTypes('all') as Set<string>).size).toBe(6);
    expect((parseAuthTypes('-') as Set<string>).size).toBe(0);
    expect(parseAuthTypes('USERPASS | KERBEROS')).toMatch(/KERBEROS/);
  });

  it('parses listen addresses', () => {
    expect(parseListenAddress('127.0.0.1:1110')).toEqual({ interface: '127.0.0.1', port: 1110 });
    expect(parseListenAddress('[::1]:995')).toEqual({ interface: '::1', port: 995 });
    expect(parseListenAddress('110')).toEqual({ interface: '0.0.0.0', port: 110 });
    expect(parseListenAddress('host:99999')).toBeNull();
  });
});

describe('loadConfig', () => {
  it('fills the Mailismus defaults and resolves paths against the file and ${state_dir}', async () => {
    const { config } = loadConfig(await configFile('state_dir: st\npop3server:\n  listeners:\n    - port: 0\n'));
    expect(config.state_dir).toBe(join(dir, 'st'));
    expect(config.message_store.root).toBe(join(dir, 'st', 'mail'));
    expect(config.pop3server.timeout).toBe(120_000);
    expect(config.pop3server.expire).toBe(-1);
    expect(config.pop3download.timeout).toBe(240_000);
    expect(config.pop3download.delay_start).toBe(60_000);
  });

  it('names file, line and setting for an unknown key and a bad value', async () => {
    const file = await configFile('pop3server:\n  greet: hi\n  grete: typo\n');
    const error = errorOf(() => loadConfig(file));
    expect(error.message).toBe(`${file}:3: pop3server.grete: unknown setting`);
    const bad = await configFile('pop3server:\n  timeout: 5 minutes\n');
    expect(errorOf(() => loadConfig(bad)).message).toMatch(/mailnode\.yaml:2: pop3server\.timeout: expected a duration like 30s/);
  });

  it('refuses a readable file that holds a password, and duplicate client ids', async () => {
    const text = 'pop3download:\n  clients:\n    - id: a\n      recip: alice\n      server:\n        address: pop.example:110\n        password: secret\n';
    const readable = await configFile(text, 0o644);
    expect(errorOf(() => loadConfig(readable)).message).toMatch(/:7: pop3download\.clients\.0\.server\.password: holds a password but the file is readable by others/);
    const twice = await configFile('pop3download:\n  clients:\n    - { id: a, recip: x, server: { address: h } }\n    - { id: a, recip: y, server: { address: h } }\n');
    expect(errorOf(() => loadConfig(twice)).message).toMatch(/:4: pop3download\.clients\.1\.id: duplicate client id 'a'/);
  });

  it('reports a missing file and YAML syntax errors with their line', async () => {
    expect(errorOf(() => loadConfig(join(dir, 'absent.yaml'))).message).toMatch(/absent\.yaml: config file not found/);
    const broken = await configFile('hostname: a\nhostname: b\n');
    expect(errorOf(() => loadConfig(broken)).message).toMatch(/mailnode\.yaml:2: not valid YAML/);
  });

  it('applies command-line overrides', async () => {
    const { config } = loadConfig(await configFile('{}\n'), { stateDir: join(dir, 'other'), pop3: ['127.0.0.1:0'], pop3s: ['127.0.0.1:0'] });
    expect(config.state_dir).toBe(join(dir, 'other'));
    expect(config.pop3server.listeners.map((l) => l.ssl?.latent)).toEqual([true, false]);
  });
});
