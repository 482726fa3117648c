/**
 * mailnode with `directory: { type: ldap }` against a real slapd, end to end: curl logs in to
 * our POP3 server as LDAP users (USER/PASS checked by binding, APOP and CRAM-MD5 from the
 * password attribute), a user's mailbox location attribute is honoured, and while slapd is down
 * logins get -ERR [SYS/TEMP] (never [AUTH]) and recover without restarting mailnode. The
 * retriever in the same node leaves mail on the remote server while its recipient cannot be
 * resolved, and delivers it once the directory is back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MaildirStore } from '@mailnode/maildir';
import { curl, curlTraced, receivedLines, scanListing } from '../harness/curl-client.ts';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { PEOPLE_DN, SUFFIX } from '../harness/ldap-fixture.ts';
import { fixed4k } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, waitFor, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { slapdUnavailableReason, startSlapd, type Slapd } from '../harness/slapd.ts';
import { join } from 'node:path';
import { maildirFiles, remoteFiles, remotePassword } from '../retriever/helpers.ts';
import { GROUP_FILTER } from './ldap-options.ts';

const unavailable = slapdUnavailableReason() ?? dovecotUnavailableReason() ?? null;

describe.skipIf(unavailable !== null)('mailnode POP3 server and retriever with an LDAP Directory', () => {
  let slapd: Slapd;
  let dovecot: DovecotInstance;
  let node: MailnodeProcess;
  const pop3 = (user: string, password: string, extra = '') => `pop3://${user}${extra}:${password}@127.0.0.1:${node.ports.pop3}/`;

  beforeAll(async () => {
    slapd = await startSlapd();
    dovecot = await startDovecot({ users: [{ name: 'remote', password: remotePassword('remote') }] });
    node = await startMailnode({
      directory: {
        type: 'ldap',
        urls: [slapd.url],
        bind_dn: slapd.serviceDn,
        bind_password: slapd.servicePassword,
        base_dn: PEOPLE_DN,
        timeout: '2s',
        connect_timeout: '2s',
        attributes: { mailbox: 'mailMessageStore' },
        aliases: { attributes: ['mailLocalAddress'], base_dn: SUFFIX, group_filter: GROUP_FILTER },
        local_domains: ['example.org'],
        // Every login reaches slapd, so the outage is seen at once.
        cache: { positive_ttl: '0s', negative_ttl: '0s' },
      },
      config: {
        pop3download: {
          delay_start: '0s',
          timeout: '10s',
          // Not a test of pauses: a slow Dovecot login under load must not park the client for minutes.
          delay_failed_host: '0s',
          delay_failed_account: '0s',
          clients: [
            {
              id: 'upstream',
              recip: 'alice',
              freq: '1s',
              server: { address: `127.0.0.1:${dovecot.plainPort}`, username: 'remote', password: remotePassword('remote') },
            },
          ],
        },
      },
    });
    const store = new MaildirStore({ root: node.mailRoot, hostname: 'testdeliver' });
    await store.deliver('alice', Buffer.from('Subject: for alice\r\n\r\nhello alice\r\n'));
    await store.deliver('example.org/grace', Buffer.from('Subject: for grace\r\n\r\nhello grace\r\n'));
  });

  afterEach(() => killAllTools());
  afterAll(async () => {
    killAllTools();
    await stopAllMailnodes();
    await dovecot?.stop();
    await slapd?.dispose();
  });

  it('lets an LDAP user in with USER/PASS and lists the mailbox', async () => {
    const result = await curl([pop3('alice', 'pw-alice')]);
    expect(result.code).toBe(0);
    expect(scanListing(result.stdout)).toHaveLength(1);
  });

  it('serves a user whose mailbox location comes from LDAP', async () => {
    const result = await curl([`${pop3('grace', 'pw-grace')}1`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('hello grace');
  });

  it('accepts APOP and CRAM-MD5 for a user whose password attribute is readable plain text', async () => {
    expect((await curl([pop3('alice', 'pw-alice', ';AUTH=+APOP')])).code).toBe(0);
    expect((await curl([pop3('alice', 'pw-alice', ';AUTH=CRAM-MD5')])).code).toBe(0);
  });

  it('answers a wrong password with -ERR [AUTH]', async () => {
    const result = await curlTraced([pop3('alice', 'wrong')]);
    expect(result.code).not.toBe(0);
    expect(receivedLines(result.stderr).some((line) => line.startsWith('-ERR [AUTH]'))).toBe(true);
  });

  it('answers -ERR [SYS/TEMP] while slapd is down, and recovers without a restart', async () => {
    await slapd.stop();
    try {
      const result = await curlTraced([pop3('alice', 'pw-alice')]);
      expect(result.code).not.toBe(0);
      const replies = receivedLines(result.stderr);
      expect(replies.some((line) => line.startsWith('-ERR [SYS/TEMP]'))).toBe(true);
      expect(replies.some((line) => line.startsWith('-ERR [AUTH]'))).toBe(false);
    } finally {
      await slapd.start();
    }
    expect((await curl([pop3('alice', 'pw-alice')])).code).toBe(0);
  });

  it('leaves mail on the remote server while the recipient cannot be resolved, then delivers it', async () => {
    // Wait for the first scheduled run to have happened against an empty remote mailbox.
    await slapd.stop();
    const messages = fixed4k(5, 900);
    try {
      await dovecot.fill('remote', messages);
      // Several poll intervals pass with the directory down: nothing may leave the remote server.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(await remoteFiles(dovecot, 'remote')).toHaveLength(5);
      expect(await maildirFiles(join(node.mailRoot, 'alice', 'Maildir'))).toHaveLength(1);
    } finally {
      await slapd.start();
    }
    await waitFor('delivery after the directory came back', async () => (await maildirFiles(join(node.mailRoot, 'alice', 'Maildir'))).length === 6, 15_000);
    // Deleted on the remote after they were stored: by the DELEs and QUIT that follow the commit.
    await waitFor('removal from the remote server', async () => (await remoteFiles(dovecot, 'remote')).length === 0, 15_000);
    expect(await maildirFiles(join(node.mailRoot, 'alice', 'Maildir'))).toHaveLength(6);
  });
});
