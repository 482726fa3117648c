/**
 * The slapd harness itself: a private OpenLDAP on loopback holds the Directory fixture, enforces
 * the userPassword ACLs, verifies every bind-able password scheme, speaks StartTLS and ldaps with
 * the test CA, survives stop()/start() with its data, can be frozen, and leaves no process behind.
 * Talks to it with ldap-utils (ldapsearch, ldapwhoami).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, killAllTools, type ToolResult } from '../harness/external-tool.ts';
import { bindableUsers, GROUPS_DN, LDAP_EXTRA_USERS, PEOPLE_DN, userDn } from '../harness/ldap-fixture.ts';
import { isAlive } from '../harness/proc-stats.ts';
import { ldapTool, makeSlapdTls, slapdUnavailableReason, startSlapd, type Slapd, type SlapdTls } from '../harness/slapd.ts';

const unavailable = slapdUnavailableReason();

if (unavailable && process.env.CI === 'true') {
  // CI installs slapd + ldap-utils: a missing peer there is a broken setup, not a reason to skip.
  describe('slapd harness', () => {
    it('has slapd installed in CI', () => {
      throw new Error(unavailable);
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted (the kernel does that even for a stopped slapd). */
function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

interface As {
  readonly dn?: string;
  readonly password?: string;
}

describe.skipIf(unavailable !== null)(`slapd harness${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let slapd: Slapd;
  let pkiDir: string;
  let tls: SlapdTls;

  beforeAll(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'mailnode-pki-'));
    tls = await makeSlapdTls(pkiDir);
    slapd = await startSlapd({ tls });
  });

  afterEach(() => killAllTools());

  afterAll(async () => {
    await slapd?.dispose();
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
  });

  const bindArgs = (as: As): string[] => (as.dn ? ['-D', as.dn, '-w', as.password ?? ''] : []);

  /** ldapsearch -LLL (base scope by default); the exit code is the LDAP result code. */
  const search = (as: As, base: string, filter: string, attrs: string[], scope = 'base'): Promise<ToolResult> =>
    ldapTool('ldapsearch', ['-LLL', '-x', '-H', slapd.url, ...bindArgs(as), '-b', base, '-s', scope, filter, ...attrs]);

  const whoami = (as: As, extra: string[] = [], url = slapd.url): Promise<ToolResult> =>
    ldapTool('ldapwhoami', ['-x', '-H', url, ...extra, ...bindArgs(as)], { caFile: tls.caFile, timeoutMs: 10_000 });

  const service = (): As => ({ dn: slapd.serviceDn, password: slapd.servicePassword });
  const limited = (): As => ({ dn: slapd.limitedDn, password: slapd.limitedPassword });

  /** Values of `attr` in ldapsearch -LLL output, base64 values decoded. */
  function values(output: string, attr: string): string[] {
    const unfolded = output.replace(/\n /g, '');
    const out: string[] = [];
    for (const match of unfolded.matchAll(new RegExp(`^${attr}(::?) (.*)$`, 'gim'))) {
      out.push(match[1] === '::' ? Buffer.from(match[2]!, 'base64').toString('utf8') : match[2]!);
    }
    return out;
  }

  it('runs on loopback with the documented DNs', () => {
    expect(isAlive(slapd.pid)).toBe(true);
    expect(slapd.url).toBe(`ldap://127.0.0.1:${slapd.port}`);
    expect(slapd.ldapsUrl).toBe(`ldaps://127.0.0.1:${slapd.ldapsPort}`);
    expect(slapd.port).not.toBe(slapd.ldapsPort);
    expect(slapd.suffix).toBe('dc=example,dc=org');
    expect(slapd.adminDn).toBe('cn=admin,dc=example,dc=org');
    expect(slapd.serviceDn).toBe('cn=mailnode,ou=services,dc=example,dc=org');
    expect(slapd.limitedDn).toBe('cn=limited,ou=services,dc=example,dc=org');
  });

  it('lets anonymous clients bind only: no entries, no userPassword', async () => {
    const one = await search({}, userDn('alice'), '(objectClass=*)', ['userPassword', 'uid']);
    expect(one.stdout).not.toMatch(/userPassword|uid:/i);
    expect(one.code, describeRun(one)).toBe(32); // noSuchObject: the entry is not even disclosed
    const all = await search({}, slapd.suffix, '(objectClass=*)', ['*'], 'sub');
    expect(all.stdout.trim()).toBe('');
  });

  it('lets the service account read userPassword', async () => {
    const result = await search(service(), userDn('alice'), '(objectClass=*)', ['userPassword']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(values(result.stdout, 'userPassword')).toEqual(['pw-alice']);
    const bob = await search(service(), userDn('bob'), '(objectClass=*)', ['userPassword']);
    expect(values(bob.stdout, 'userPassword')[0]).toMatch(/^\{CRYPT\}\$6\$/);
  });

  it('lets the limited account search, but not read userPassword', async () => {
    const result = await search(limited(), PEOPLE_DN, '(uid=alice)', ['uid', 'mail', 'userPassword'], 'one');
    expect(result.code, describeRun(result)).toBe(0);
    expect(values(result.stdout, 'uid')).toEqual(['alice']);
    expect(values(result.stdout, 'mail')).toEqual(['alice@example.org']);
    expect(values(result.stdout, 'userPassword')).toEqual([]);
    // Nor can it filter on it (which would leak the value bit by bit).
    const probe = await search(limited(), PEOPLE_DN, '(userPassword=pw-alice)', ['uid'], 'one');
    expect(probe.stdout.trim()).toBe('');
  });

  it('lets a user read directory entries but not another user\'s userPassword', async () => {
    const bob = bindableUsers().find((u) => u.name === 'bob')!;
    const result = await search({ dn: bob.dn, password: bob.password }, userDn('alice'), '(objectClass=*)', ['uid', 'userPassword']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(values(result.stdout, 'uid')).toEqual(['alice']);
    expect(values(result.stdout, 'userPassword')).toEqual([]);
  });

  it('binds every user whose stored scheme slapd knows (plain, {CRYPT}, {ARGON2}, {SSHA})', async () => {
    const users = bindableUsers();
    expect(users.map((u) => u.name).sort()).toEqual(['alice', 'bob', 'dave', 'frank', 'grace']);
    for (const user of users) {
      const ok = await whoami({ dn: user.dn, password: user.password });
      expect(ok.code, `${user.name}: ${describeRun(ok)}`).toBe(0);
      expect(ok.stdout.trim()).toBe(`dn:${user.dn}`);
      const wrong = await whoami({ dn: user.dn, password: `${user.password}x` });
      expect(wrong.code, `${user.name} with a wrong password`).toBe(49); // invalidCredentials
    }
  });

  it('cannot bind erin ({CRAM-MD5} is no slapd scheme) nor carol (no password)', async () => {
    expect((await whoami({ dn: userDn('erin'), password: 'pw-erin' })).code).toBe(49);
    expect((await whoami({ dn: userDn('carol'), password: 'anything' })).code).toBe(49);
  });

  it('holds the groups, aliases and LDAP-only attributes of the fixture', async () => {
    const staff = await search(service(), `cn=staff,${GROUPS_DN}`, '(objectClass=groupOfNames)', ['member']);
    expect(values(staff.stdout, 'member').sort()).toEqual([`cn=team,${GROUPS_DN}`, userDn('dave')].sort());
    const postmaster = await search(service(), PEOPLE_DN, '(mailLocalAddress=postmaster@example.org)', ['uid'], 'one');
    expect(values(postmaster.stdout, 'uid')).toEqual(['alice']);
    const loop = await search(service(), `ou=aliases,${slapd.suffix}`, '(cn=loop1)', ['rfc822MailMember'], 'one');
    expect(values(loop.stdout, 'rfc822MailMember')).toEqual(['loop2']);
    const grace = await search(limited(), userDn('grace'), '(objectClass=mailnodeMailbox)', ['mailMessageStore']);
    expect(values(grace.stdout, 'mailMessageStore')).toEqual([LDAP_EXTRA_USERS.find((u) => u.name === 'grace')!.mailMessageStore]);
  });

  it('speaks StartTLS and ldaps, verified against the test CA', async () => {
    const startTls = await whoami(service(), ['-ZZ']);
    expect(startTls.code, describeRun(startTls)).toBe(0);
    expect(startTls.stdout.trim()).toBe(`dn:${slapd.serviceDn}`);
    const ldaps = await whoami(service(), [], slapd.ldapsUrl);
    expect(ldaps.code, describeRun(ldaps)).toBe(0);
    // And the certificate really is checked: with another CA the handshake fails.
    const otherDir = await mkdtemp(join(tmpdir(), 'mailnode-pki-'));
    try {
      const other = await makeSlapdTls(otherDir);
      const refused = await ldapTool('ldapwhoami', ['-x', '-H', slapd.ldapsUrl!], { caFile: other.caFile });
      expect(refused.code).not.toBe(0);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('applies modify() and keeps the data across stop() / start() on the same ports', async () => {
    await slapd.modify(`dn: ${userDn('carol')}\nchangetype: modify\nreplace: description\ndescription: survived a restart\n`);
    const { port, ldapsPort } = slapd;
    const oldPid = slapd.pid;
    await slapd.stop();
    expect(isAlive(oldPid)).toBe(false);
    expect(slapd.pid).toBe(0);
    expect(await tcpConnects(port)).toBe(false);
    expect((await whoami(service())).code).not.toBe(0);
    await slapd.start();
    expect(slapd.pid).not.toBe(oldPid);
    expect([slapd.port, slapd.ldapsPort]).toEqual([port, ldapsPort]);
    const carol = await search(service(), userDn('carol'), '(objectClass=*)', ['description']);
    expect(values(carol.stdout, 'description')).toEqual(['survived a restart']);
    expect((await whoami(service(), [], slapd.ldapsUrl)).code).toBe(0);
  });

  it('freeze() leaves TCP accepted but unanswered; thaw() brings answers back', async () => {
    slapd.freeze();
    try {
      expect(await tcpConnects(slapd.port)).toBe(true);
      const frozen = await ldapTool('ldapwhoami', ['-x', '-H', slapd.url, ...bindArgs(service())], { timeoutMs: 1500 });
      expect(frozen.timedOut).toBe(true);
    } finally {
      slapd.thaw();
    }
    const ok = await whoami(service());
    expect(ok.code, describeRun(ok)).toBe(0);
  });

  it('takes a custom LDIF that defines its own containers, and dispose() leaves nothing behind', async () => {
    const ldif = `dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\ndescription: custom\n\n` +
      `dn: uid=zed,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: zed\ncn: zed\nsn: zed\nuserPassword: pw-zed\n\n`;
    const custom = await startSlapd({ ldif });
    const pid = custom.pid;
    try {
      expect(custom.ldapsUrl).toBeUndefined();
      const zed = await ldapTool('ldapwhoami', ['-x', '-H', custom.url, '-D', 'uid=zed,ou=people,dc=example,dc=org', '-w', 'pw-zed']);
      expect(zed.code, describeRun(zed)).toBe(0);
      const people = await ldapTool('ldapsearch', ['-LLL', '-x', '-H', custom.url, ...bindArgs(service()), '-b', PEOPLE_DN, '-s', 'base', 'description']);
      expect(values(people.stdout, 'description')).toEqual(['custom']);
    } finally {
      await custom.dispose();
    }
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(custom.dir)).toBe(false);
  });

  it('stop() ends slapd, and dispose() removes the temp dir', async () => {
    const pid = slapd.pid;
    await slapd.stop();
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(slapd.dir)).toBe(true);
    await slapd.dispose();
    expect(existsSync(slapd.dir)).toBe(false);
    await slapd.dispose(); // idempotent
  });
});
