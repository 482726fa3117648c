/**
 * fetchmail (OpenSSL) as a POP3 client of a running mailnode, delivering through a tiny shell
 * MDA that writes each message to a file of its own.
 *
 * What fetchmail changes in a message, and how the rc file turns it off:
 *  - it prepends a `Received:` header (an MTA's duty): `set invisible` suppresses it;
 *  - it rewrites addresses without a domain in To/Cc/From: `no rewrite`;
 *  - with an MDA it strips CRs (`stripcr` is the default then), so files have LF endings;
 *  - it undoes dot-stuffing, and (default `no dropstatus`, `no dropdelivered`) keeps the rest;
 *  - it always writes the empty line that ends the header, so a header-only message gains one.
 * So each delivered file must equal the sample with LF endings (plus the final line break the
 * server adds to a message that lacks one, plus that empty line for a header-only message).
 *
 * fetchmail refuses an rc file that others can read (written 0600 here), keeps its state
 * (.fetchids, the lock) in $FETCHMAILHOME (a private temp dir), and only warns when run as root.
 */
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
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

const MDA_SCRIPT = `#!/bin/sh
# One message on stdin -> one file in "$1" (written under a temporary name, then renamed).
set -e
out="$1"
name="msg.$(date +%s%N).$$"
cat > "$out/.tmp.$name"
mv "$out/.tmp.$name" "$out/$name"
`;

interface FetchmailAccount {
  user: string;
  password: string;
  port: number;
  /** Implicit TLS (`ssl`); otherwise fetchmail upgrades with STLS on its own. */
  implicitTls: boolean;
  keep: boolean;
}

async function fetchmailSetup(account: FetchmailAccount): Promise<{ outDir: string; run: () => Promise<ToolResult> }> {
  const home = await makeTempDir('mailnode-fetchmail-');
  const outDir = join(home, 'delivered');
  await mkdir(outDir, { mode: 0o700 });
  const mda = join(home, 'mda.sh');
  await writeFile(mda, MDA_SCRIPT);
  await chmod(mda, 0o700);
  const rc = join(home, 'fetchmailrc');
  await writeFile(
    rc,
    [
      'set no syslog',
      'set invisible',
      `poll 127.0.0.1 protocol POP3 port ${account.port} timeout 10`,
      `  user "${account.user}" there with password "${account.password}" is "${userInfo().username}" here`,
      account.implicitTls ? '  ssl' : '',
      // Verify the node's certificate against itself; it names localhost, not 127.0.0.1.
      `  sslcertck sslcertfile "${node.certFile}" sslcommonname localhost`,
      `  ${account.keep ? 'keep' : 'no keep'} fetchall no rewrite`,
      `  mda "${mda} ${outDir}"`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return {
    outDir,
    run: () =>
      runTool('fetchmail', ['-f', rc, '-v', '--nodetach', '--nosyslog'], {
        env: { HOME: home, FETCHMAILHOME: home, FETCHMAILUSER: undefined },
        timeoutMs: 30_000,
      }),
  };
}

async function delivered(outDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(outDir)) {
    if (name.startsWith('.')) continue;
    const bytes = await readFile(join(outDir, name));
    const id = messageIdOf(bytes);
    if (!id) throw new Error(`delivered file ${name} has no Message-ID:\n${bytes.toString('latin1').slice(0, 500)}`);
    if (files.has(id)) throw new Error(`message ${id} delivered twice`);
    files.set(id, bytes);
  }
  return files;
}

/** The sample as fetchmail's MDA receives it (see the header comment). */
function asFetchmailDelivers(sample: SampleMessage): string {
  const text = lfBytes(sample).toString('latin1');
  return text.includes('\n\n') ? text : `${text}\n`;
}

function expectAllSamples(files: Map<string, Buffer>, expected: SampleMessage[]): void {
  expect([...files.keys()].sort()).toEqual(expected.map((s) => s.messageId).sort());
  for (const sample of expected) {
    expect(files.get(sample.messageId)!.toString('latin1'), sample.name).toBe(asFetchmailDelivers(sample));
  }
}

async function deliverSamples(user: string): Promise<void> {
  for (const sample of samples) await store.deliver(user, sample.bytes, { crlf: sample.crlf });
}

/** fetchmail exit status 0: mail was retrieved (1 would be "no mail"). */
const RETRIEVED = 0;

describe('fetchmail', () => {
  it('fetches every message over STLS (keep, fetchall) byte for byte and leaves the mailbox as it was', async () => {
    await deliverSamples('alice');
    const before = await uidls(`pop3://127.0.0.1:${node.ports.pop3}`, 'alice:pw-alice');
    const fetchmail = await fetchmailSetup({ user: 'alice', password: 'pw-alice', port: node.ports.pop3, implicitTls: false, keep: true });
    const result = await fetchmail.run();
    expect(result.code, describeRun(result)).toBe(RETRIEVED);
    const log = result.stdout + result.stderr;
    expect(log).toMatch(/POP3> STLS/);
    expect(log).toMatch(/upgrade to TLS succeeded/);
    expectAllSamples(await delivered(fetchmail.outDir), samples);
    expect(await uidls(`pop3://127.0.0.1:${node.ports.pop3}`, 'alice:pw-alice')).toEqual(before);

    // fetchall: a second run fetches everything again (nothing was deleted).
    const again = await fetchmail.run();
    expect(again.code, describeRun(again)).toBe(RETRIEVED);
    expect(await readdir(fetchmail.outDir)).toHaveLength(2 * samples.length);
  });

  it('fetches over implicit TLS and, without keep, deletes what it fetched', async () => {
    await deliverSamples('bob');
    const fetchmail = await fetchmailSetup({ user: 'bob', password: 'pw-bob', port: node.ports.pop3s, implicitTls: true, keep: false });
    const result = await fetchmail.run();
    expect(result.code, describeRun(result)).toBe(RETRIEVED);
    expect(result.stdout + result.stderr).not.toMatch(/POP3> STLS/);
    expectAllSamples(await delivered(fetchmail.outDir), samples);

    const list = await curl([`pop3://127.0.0.1:${node.ports.pop3}/`, '-u', 'bob:pw-bob']);
    expect(list.code, describeRun(list)).toBe(0);
    expect(scanListing(list.stdout)).toEqual([]);

    // Nothing left: fetchmail says so with exit status 1.
    const empty = await fetchmail.run();
    expect(empty.code, describeRun(empty)).toBe(1);
  });

  it('fails to log in with a wrong password (exit status 3, nothing delivered)', async () => {
    const fetchmail = await fetchmailSetup({ user: 'alice', password: 'not-the-password', port: node.ports.pop3s, implicitTls: true, keep: true });
    const result = await fetchmail.run();
    expect(result.code, describeRun(result)).toBe(3);
    expect(await readdir(fetchmail.outDir)).toEqual([]);
  });
});
