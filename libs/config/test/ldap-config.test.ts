import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailnode-ldap-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(text: string, mode = 0o600) {
  const file = join(dir, 'mailnode.yaml');
  await writeFile(file, text);
  await chmod(file, mode);
  return loadConfig(file).config;
}

async function problemOf(text: string, mode = 0o600): Promise<ConfigError> {
  const error = await load(text, mode).catch((e: unknown) => e);
  if (error instanceof ConfigError) return error;
  throw new Error(`expected a ConfigError, got ${String(error)}`);
}

describe('directory type ldap', () => {
  it('fills in the documented defaults', async () => {
    const config = await load('directory:\n  type: ldap\n  urls: [ldap://ldap.example.org]\n  base_dn: ou=people,dc=example,dc=org\n');
    expect(config.directory).toMatchObject({
      type: 'ldap',
      urls: ['ldap://ldap.example.org'],
      starttls: false,
      tls: { verify: true },
      connect_timeout: 5000,
      timeout: 10_000,
      pool_size: 4,
      scope: 'sub',
      user_filter: '(&(objectClass=inetOrgPerson)(uid=%u))',
      attributes: { login: 'uid', mail: 'mail', password: 'userPassword' },
      auth: 'bind',
      aliases: { attributes: [], member_attributes: ['member', 'uniqueMember', 'rfc822MailMember'] },
      local_domains: [],
      cache: { positive_ttl: 60_000, negative_ttl: 10_000, size: 10000 },
    });
  });

  it('resolves the CA and password file paths relative to the config file', async () => {
    const config = await load(
      'directory:\n  type: ldap\n  urls: [ldaps://ldap.example.org:636]\n  base_dn: dc=x\n  tls: { ca: certs/ca.pem }\n  bind_password_file: secret\n',
    );
    expect(config.directory.type === 'ldap' && config.directory.tls.ca).toBe(join(dir, 'certs/ca.pem'));
    expect(config.directory.type === 'ldap' && config.directory.bind_password_file).toBe(join(dir, 'secret'));
  });

  it('names file, line and setting for a filter without %u or with unbalanced parentheses', async () => {
    let error = await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n  base_dn: dc=x\n  user_filter: "(uid=alice)"\n');
    expect(error.message).toMatch(/mailnode\.yaml:5: directory\.user_filter: LDAP filter must contain %u/);
    error = await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n  base_dn: dc=x\n  user_filter: "(&(uid=%u)"\n');
    expect(error.message).toMatch(/directory\.user_filter: LDAP filter has an unmatched "\("/);
    error = await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n  base_dn: dc=x\n  aliases: { group_filter: "cn=%u" }\n');
    expect(error.message).toMatch(/directory\.aliases\.group_filter: LDAP filter must be enclosed in parentheses/);
  });

  it('refuses URLs that are not ldap:// or ldaps://, and unknown settings', async () => {
    let error = await problemOf('directory:\n  type: ldap\n  urls: [http://h]\n  base_dn: dc=x\n');
    expect(error.setting).toBe('directory.urls.0');
    expect(error.problem).toMatch(/ldap:\/\/host/);
    error = await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n  base_dn: dc=x\n  bind_pw: x\n');
    expect(error.setting).toBe('directory.bind_pw');
    expect(error.problem).toBe('unknown setting');
  });

  it('requires urls and base_dn, and names the allowed directory types', async () => {
    expect((await problemOf('directory:\n  type: ldap\n  base_dn: dc=x\n')).setting).toBe('directory.urls');
    expect((await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n')).setting).toBe('directory.base_dn');
    expect((await problemOf('directory:\n  type: nis\n')).problem).toBe('expected type: files or type: ldap');
  });

  it('refuses a bind_password in a file others can read', async () => {
    const error = await problemOf('directory:\n  type: ldap\n  urls: [ldap://h]\n  base_dn: dc=x\n  bind_password: s3cret\n', 0o644);
    expect(error.setting).toBe('directory.bind_password');
    expect(error.line).toBe(5);
    expect(error.problem).toMatch(/readable by others/);
  });
});
