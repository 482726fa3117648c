/**
 * The whole node in one process: `node apps/mailnode` (startMailnode) runs its retriever
 * (delay_start 0s, freq 0: one run) against a real Dovecot over STLS, delivering into the local
 * user alice's Maildir, and its own POP3 server then hands the same messages out again: curl
 * RETRs each one, mpop downloads (and deletes) the whole mailbox. Every copy must be the
 * generated message byte for byte, below the Received header the retriever added.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { curl, scanListing } from '../harness/curl-client.ts';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { describeRun, killAllTools, runTool } from '../harness/external-tool.ts';
import { fixed4k, mixed, type GeneratedMessage } from '../harness/mail-generator.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, waitFor, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { copyProblems, maildirFiles, readTranscript, remoteFiles, remotePassword, sentBy, sessionsOf } from './helpers.ts';

const unavailable = dovecotUnavailableReason();

let dovecot: DovecotInstance;
let node: MailnodeProcess;
let transcript: string;
// 20 × 4 KiB and 6 mixed (some over 64 KiB: mailnode's own server streams those).
const messages: GeneratedMessage[] = [...fixed4k(20, 500), ...mixed(6, 501)];

beforeAll(async () => {
  if (unavailable) return;
  dovecot = await startDovecot({ users: [{ name: 'remote', password: remotePassword('remote') }] });
  await dovecot.fill('remote', messages);
  const logs = await makeTempDir('mailnode-e2e-logs-');
  transcript = join(logs, 'retriever.transcript');
  node = await startMailnode({
    users: 'alice:pw-alice\nbob:pw-bob\n',
    config: {
      pop3download: {
        transcript,
        delay_start: '0s',
        timeout: '15s',
        clients: [
          {
            id: 'upstream',
            recip: 'alice',
            freq: 0,
            server: { address: `127.0.0.1:${dovecot.plainPort}`, username: 'remote', password: remotePassword('remote') },
            ssl: { latent: 'Y', ca: dovecot.caFile },
          },
        ],
      },
    },
  });
});

afterEach(() => killAllTools());
afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
  await dovecot?.stop();
});

const base = () => `pop3://127.0.0.1:${node.ports.pop3}`;

describe.skipIf(unavailable)('one mailnode process: retriever in, POP3 server out', () => {
  it('pulls the Dovecot mailbox into alice\'s Maildir, then serves it byte for byte to curl and mpop', async () => {
    const maildir = join(node.mailRoot, 'alice', 'Maildir');
    const context = () => `stderr:\n${node.stderr().slice(-3000)}\ndovecot:\n${dovecot.logTail(10)}`;
    // The run is over when Dovecot's mailbox is empty (DELE committed by QUIT) and all is local.
    await waitFor(
      'the retriever run to finish',
      async () => (await remoteFiles(dovecot, 'remote')).length === 0 && (await maildirFiles(maildir)).length === messages.length,
      30_000,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${context()}`);
    });
    expect(copyProblems(await maildirFiles(maildir), messages, { received: 'required', recip: 'alice' }), context()).toEqual([]);
    // (How many runs freq 0 makes is schedule.test.ts's business; here: the first one used STLS.)
    const sessions = sessionsOf(await readTranscript(transcript), 'upstream');
    expect(sentBy(sessions[0] ?? [])[0], context()).toBe('STLS');

    // curl: LIST, then RETR every message from mailnode's own POP3 server.
    const list = await curl([`${base()}/`, '-u', 'alice:pw-alice']);
    expect(list.code, describeRun(list)).toBe(0);
    const listing = scanListing(list.stdout);
    expect(listing.map(([n]) => n)).toEqual(messages.map((_, i) => i + 1));
    const copies = [];
    for (const [n, size] of listing) {
      const retr = await curl([`${base()}/${n}`, '-u', 'alice:pw-alice']);
      expect(retr.code, describeRun(retr)).toBe(0);
      // LIST's size is the wire size of what RETR returns.
      expect(retr.stdoutBytes.length, `message ${n}`).toBe(Number(size));
      copies.push({ name: `curl RETR ${n}`, bytes: retr.stdoutBytes });
    }
    expect(copyProblems(copies, messages, { received: 'required', recip: 'alice' })).toEqual([]);

    // mpop: the whole mailbox in one session, deleting it from mailnode (keep off).
    const dir = await makeTempDir('mailnode-e2e-mpop-');
    const out = join(dir, 'Maildir');
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(out, sub), { recursive: true, mode: 0o700 });
    const rc = join(dir, 'mpoprc');
    await writeFile(
      rc,
      [
        'defaults',
        'timeout 20',
        'account test',
        'host 127.0.0.1',
        `port ${node.ports.pop3}`,
        'user alice',
        'password pw-alice',
        'tls on',
        'tls_starttls on',
        `tls_trust_file ${node.certFile}`,
        'tls_host_override localhost',
        `delivery maildir ${out}`,
        'keep off',
        `uidls_file ${join(dir, 'uidls')}`,
        'received_header off',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    const mpop = await runTool('mpop', ['-C', rc, '-a', '-q'], { env: { HOME: dir }, timeoutMs: 30_000 });
    expect(mpop.code, describeRun(mpop)).toBe(0);
    expect(copyProblems(await maildirFiles(out), messages, { received: 'required', recip: 'alice' }), describeRun(mpop)).toEqual([]);
    // mpop deleted them: mailnode's mailbox is empty now.
    const after = await curl([`${base()}/`, '-u', 'alice:pw-alice']);
    expect(after.code, describeRun(after)).toBe(0);
    expect(after.stdout.trim()).toBe('');
    expect(await maildirFiles(maildir)).toEqual([]);
  }, 60_000);
});
