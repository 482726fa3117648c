/**
 * mpop (a real POP3 client, GnuTLS) downloads a whole mailbox from a running mailnode into a
 * local Maildir, over STLS and over implicit TLS, with the node's certificate as trust anchor.
 *
 * What mpop changes: it undoes dot-stuffing and stores LF line endings; it would prepend a
 * Received header, which `received_header off` turns off. So each file must equal the sample
 * with LF endings (and the final line break the server adds to a message that lacks one).
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MaildirStore } from '@mailnode/maildir';
import { curl, scanListing, uidls } from '../harness/curl-client.ts';
import { describeRun, killAllTools, runTool, type ToolResult } from '../harness/external-tool.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { lfBytes, messageIdOf, sampleMessages, type SampleMessage } from '../harness/sample-messages.ts';

let node: MailnodeProcess;
let store: MaildirStore;
const samples = sampleMessages();

beforeAll(async () => {
  node = await startMailnode({ users: 'alice:pw-alice\nbob:pw-bob\n' });
  store = new MaildirStore({ root: node.mailRoot, hostname: 'testdeliver' });
});
afterEach(() => killAllTools());
afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
});

interface MpopAccount {
  user: string;
  password: string;
  port: number;
  starttls: boolean;
  keep: boolean;
}

/** A private Maildir, an mpoprc (mode 0600) for one account, and a runner. */
async function mpopSetup(account: MpopAccount): Promise<{ maildir: string; uidlsFile: string; run: () => Promise<ToolResult> }> {
  const dir = await makeTempDir('mailnode-mpop-');
  const maildir = join(dir, 'Maildir');
  for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });
  const uidlsFile = join(dir, 'uidls');
  const rc = join(dir, 'mpoprc');
  await writeFile(
    rc,
    [
      'defaults',
      'timeout 10',
      '',
      'account test',
      'host 127.0.0.1',
      `port ${account.port}`,
      `user ${account.user}`,
      `password ${account.password}`,
      'tls on',
      `tls_starttls ${account.starttls ? 'on' : 'off'}`,
      `tls_trust_file ${node.certFile}`,
      // The node's self-signed certificate names localhost (and 127.0.0.1); check against the name.
      'tls_host_override localhost',
      `delivery maildir ${maildir}`,
      `keep ${account.keep ? 'on' : 'off'}`,
      `uidls_file ${uidlsFile}`,
      'received_header off',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    maildir,
    uidlsFile,
    run: () => runTool('mpop', ['-C', rc, '-a', '--debug'], { env: { HOME: dir }, timeoutMs: 30_000 }),
  };
}

/** Files of a Maildir's new/ by Message-ID. */
async function downloaded(maildir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(join(maildir, 'new'))) {
    const bytes = await readFile(join(maildir, 'new', name));
    const id = messageIdOf(bytes);
    if (!id) throw new Error(`downloaded file ${name} has no Message-ID`);
    if (files.has(id)) throw new Error(`message ${id} downloaded twice`);
    files.set(id, bytes);
  }
  return files;
}

function expectAllSamples(files: Map<string, Buffer>, expected: SampleMessage[]): void {
  expect([...files.keys()].sort()).toEqual(expected.map((s) => s.messageId).sort());
  for (const sample of expected) {
    expect(files.get(sample.messageId)!.toString('latin1'), sample.name).toBe(lfBytes(sample).toString('latin1'));
  }
}

async function deliverSamples(user: string): Promise<void> {
  for (const sample of samples) await store.deliver(user, sample.bytes, { crlf: sample.crlf });
}

describe('mpop', () => {
  it('downloads the whole mailbox over STLS and, with keep off, empties it', async () => {
    await deliverSamples('alice');
    const mpop = await mpopSetup({ user: 'alice', password: 'pw-alice', port: node.ports.pop3, starttls: true, keep: false });
    const result = await mpop.run();
    expect(result.code, describeRun(result)).toBe(0);
    // The trace shows the upgrade happened before any credentials were sent.
    expect(result.stdout + result.stderr).toMatch(/--> STLS/);
    expectAllSamples(await downloaded(mpop.maildir), samples);

    const list = await curl([`pop3://127.0.0.1:${node.ports.pop3}/`, '-u', 'alice:pw-alice']);
    expect(list.code, describeRun(list)).toBe(0);
    expect(scanListing(list.stdout)).toEqual([]);
    expect(await readdir(join(node.mailRoot, 'alice', 'Maildir', 'cur'))).toEqual([]);
  });

  it('downloads over implicit TLS with keep on, leaves the mailbox unchanged, and fetches nothing new the second time', async () => {
    await deliverSamples('bob');
    const before = await uidls(`pop3://127.0.0.1:${node.ports.pop3}`, 'bob:pw-bob');
    expect(before).toHaveLength(samples.length);
    const mpop = await mpopSetup({ user: 'bob', password: 'pw-bob', port: node.ports.pop3s, starttls: false, keep: true });

    const first = await mpop.run();
    expect(first.code, describeRun(first)).toBe(0);
    expect(first.stdout + first.stderr).not.toMatch(/--> STLS/);
    expectAllSamples(await downloaded(mpop.maildir), samples);
    expect(await uidls(`pop3://127.0.0.1:${node.ports.pop3}`, 'bob:pw-bob')).toEqual(before);
    // mpop remembers what it saw by UIDL.
    const remembered = await readFile(mpop.uidlsFile, 'utf8');
    for (const uidl of before) expect(remembered).toContain(uidl);

    const second = await mpop.run();
    expect(second.code, describeRun(second)).toBe(0);
    expect(second.stdout + second.stderr).not.toMatch(/--> RETR/);
    expect(await readdir(join(mpop.maildir, 'new'))).toHaveLength(samples.length);
    expect(await uidls(`pop3://127.0.0.1:${node.ports.pop3}`, 'bob:pw-bob')).toEqual(before);
  });
});
