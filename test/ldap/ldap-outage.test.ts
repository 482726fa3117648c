/**
 * The LDAP Directory's connection handling against a real slapd: StartTLS and ldaps with
 * certificate verification (and refusal of an unknown CA, never a plaintext fallback), failover
 * across URLs, an outage (server stopped, then started again: the same Directory recovers), and
 * a server that accepts TCP but never answers (the operation timeout turns it into an outage).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryUnavailableError, LdapDirectory, type Directory } from '@mailnode/directory';
import { freePort } from '../harness/free-port.ts';
import { makeTempDir } from '../harness/mailnode-process.ts';
import { makeSlapdTls, slapdUnavailableReason, startSlapd, type Slapd } from '../harness/slapd.ts';
import { createCa } from '../harness/test-pki.ts';
import { ldapOptions } from './ldap-options.ts';

const unavailable = slapdUnavailableReason();

describe.skipIf(unavailable !== null)('LDAP connections, TLS and outages', () => {
  let slapd: Slapd;
  let ca: string;
  let otherCa: string;
  const directories: Directory[] = [];
  const open = (overrides: Parameters<typeof ldapOptions>[1] = {}): LdapDirectory => {
    const directory = new LdapDirectory(ldapOptions(slapd, overrides));
    directories.push(directory);
    return directory;
  };
  const aliceLogin = (directory: Directory) => directory.authenticate({ mechanism: 'PASSWORD', username: 'alice', password: 'pw-alice' });

  beforeAll(async () => {
    const dir = await makeTempDir('mailnode-ldap-tls-');
    const tls = await makeSlapdTls(dir);
    slapd = await startSlapd({ tls });
    ca = await readFile(tls.caFile, 'utf8');
    otherCa = await readFile((await createCa(dir, 'other')).certFile, 'utf8');
  });
  afterAll(async () => {
    await Promise.all(directories.map((directory) => directory.close()));
    await slapd?.dispose();
  });

  describe('TLS', () => {
    it('logs in over StartTLS and over ldaps with the CA, by name', async () => {
      const url = slapd.url.replace('127.0.0.1', 'localhost');
      expect(await aliceLogin(open({ urls: [url], starttls: true, tls: { ca } }))).toMatchObject({ ok: true });
      expect(await aliceLogin(open({ urls: [slapd.ldapsUrl!.replace('127.0.0.1', 'localhost')], tls: { ca } }))).toMatchObject({ ok: true });
    });

    it('refuses a server certificate from an unknown CA: an outage, never a plaintext fallback', async () => {
      for (const options of [
        { urls: [slapd.url], starttls: true, tls: { ca: otherCa } },
        { urls: [slapd.ldapsUrl!], tls: { ca: otherCa } },
      ]) {
        const error = await aliceLogin(open(options)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(DirectoryUnavailableError);
        expect(String((error as Error).message)).toMatch(/certificate|self.signed|verify/i);
      }
    });
  });

  it('fails over to the next URL when the first does not answer', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const directory = open({ urls: [dead, slapd.url] });
    expect(await aliceLogin(directory)).toMatchObject({ ok: true });
    expect(await directory.lookupUser('bob')).toMatchObject({ name: 'bob' });
  });

  it('names every URL tried when none answers', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const error = await open({ urls: [`ldap://127.0.0.1:${a}`, `ldap://127.0.0.1:${b}`] })
      .lookupUser('alice')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DirectoryUnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${a}`);
    expect((error as Error).message).toContain(`127.0.0.1:${b}`);
  });

  it('a refused service bind is an outage with a clear message, not a wrong user password', async () => {
    const error = await aliceLogin(open({ bindPassword: 'wrong' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DirectoryUnavailableError);
    expect((error as Error).message).toMatch(/service bind .* refused/);
  });

  it('survives a server restart: unavailable while it is down, logins work again after, same Directory', async () => {
    // No caching, so every call reaches the server.
    const directory = open({ positiveTtlMs: 0, negativeTtlMs: 0 });
    expect(await aliceLogin(directory)).toMatchObject({ ok: true });
    await slapd.stop();
    try {
      await expect(aliceLogin(directory)).rejects.toBeInstanceOf(DirectoryUnavailableError);
      await expect(directory.lookupUser('bob')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      await expect(directory.expandAlias('team')).rejects.toBeInstanceOf(DirectoryUnavailableError);
    } finally {
      await slapd.start();
    }
    expect(await aliceLogin(directory)).toMatchObject({ ok: true });
    expect(await directory.lookupUser('bob')).toMatchObject({ name: 'bob' });
  });

  it('turns a server that accepts connections but never answers into an outage within the timeouts', async () => {
    // A black hole of our own: a frozen slapd would do the same, but a port shared by parallel
    // test files could then be answered by another server.
    const hole = createServer((socket) => socket.on('error', () => socket.destroy()));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    try {
      const port = (hole.address() as AddressInfo).port;
      const directory = open({ urls: [`ldap://127.0.0.1:${port}`], positiveTtlMs: 0, negativeTtlMs: 0, timeoutMs: 500, connectTimeoutMs: 500 });
      const started = Date.now();
      await expect(directory.lookupUser('alice')).rejects.toBeInstanceOf(DirectoryUnavailableError);
      // The service bind on a new connection, then one retry: each bounded by the operation timeout.
      expect(Date.now() - started).toBeLessThan(4000);
      // Failover past the black hole to the real server.
      const failover = open({ urls: [`ldap://127.0.0.1:${port}`, slapd.url], timeoutMs: 500, connectTimeoutMs: 500 });
      expect(await failover.lookupUser('alice')).toMatchObject({ name: 'alice' });
    } finally {
      hole.close();
    }
  });
});
