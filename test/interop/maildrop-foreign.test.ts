/**
 * Messages put into a Maildir by another program (procmail, a manual copy): names without
 * `,S=`/`,W=` sizes and LF line endings. mailnode serves them (CRLF on the wire, LIST sizes
 * counted with CRLF) and keeps their UIDL (the unique part of the name) across sessions and
 * across a restart, although it renames the files into cur/.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MaildirStore } from '@mailnode/maildir';
import { curl, scanListing, uidls } from '../harness/curl-client.ts';
import { describeRun, killAllTools } from '../harness/external-tool.ts';
import { startMailnode, stopAllMailnodes } from '../harness/mailnode-process.ts';
import { sampleByName, wireBytes, wireSize } from '../harness/sample-messages.ts';

afterEach(async () => {
  killAllTools();
  await stopAllMailnodes();
});
afterAll(() => killAllTools());

describe('a foreign message dropped into the Maildir', () => {
  it('is served with CRLF sizes and keeps its UIDL across sessions and a restart', async () => {
    const node = await startMailnode();
    const maildir = join(node.mailRoot, 'alice', 'Maildir');
    for (const sub of ['tmp', 'new', 'cur']) await mkdir(join(maildir, sub), { recursive: true, mode: 0o700 });

    // Oldest first by the time in their names: the dropped one (2023), then one in cur/ with
    // flags but no sizes, then one the node's own store delivers now.
    const dropped = sampleByName('dots-lf').bytes; // LF endings, dot lines
    const droppedName = '1700000000.12345.otherhost';
    await writeFile(join(maildir, 'new', droppedName), dropped, { mode: 0o600 });
    const seen = sampleByName('eight-bit-lf').bytes;
    const seenName = '1700000100.777_1.otherhost';
    await writeFile(join(maildir, 'cur', `${seenName}:2,S`), seen, { mode: 0o600 });
    const own = sampleByName('small-crlf');
    const staged = await new MaildirStore({ root: node.mailRoot, hostname: 'testdeliver' }).deliver('alice', own.bytes, { crlf: true });

    const base = `pop3://127.0.0.1:${node.ports.pop3}`;
    const list = await curl([`${base}/`, '-u', 'alice:pw-alice']);
    expect(list.code, describeRun(list)).toBe(0);
    expect(scanListing(list.stdout)).toEqual([
      [1, String(wireSize(dropped))],
      [2, String(wireSize(seen))],
      [3, String(wireSize(own))],
    ]);
    // The CRLF size is not the size on disk.
    expect(wireSize(dropped)).toBeGreaterThan(dropped.length);

    for (const [n, bytes] of [[1, dropped], [2, seen]] as const) {
      const retr = await curl([`${base}/${n}`, '-u', 'alice:pw-alice']);
      expect(retr.code, describeRun(retr)).toBe(0);
      expect(retr.stdoutBytes.toString('latin1')).toBe(wireBytes(bytes).toString('latin1'));
    }

    const first = await uidls(base, 'alice:pw-alice');
    expect(first).toEqual([droppedName, seenName, staged.uidl]);
    expect(await uidls(base, 'alice:pw-alice')).toEqual(first);

    // The dropped file now lives in cur/ (with sizes and an info part added), under its unique part.
    expect(await readdir(join(maildir, 'new'))).toEqual([]);
    const cur = await readdir(join(maildir, 'cur'));
    expect(cur.filter((name) => name.startsWith(`${droppedName},`) || name.startsWith(`${droppedName}:`))).toHaveLength(1);

    // A restarted node on the same state dir reports the same UIDLs.
    expect(await node.stop()).toBe(0);
    const again = await startMailnode({ stateDir: node.stateDir });
    expect(await uidls(`pop3://127.0.0.1:${again.ports.pop3}`, 'alice:pw-alice')).toEqual(first);
    const retr = await curl([`pop3://127.0.0.1:${again.ports.pop3}/1`, '-u', 'alice:pw-alice']);
    expect(retr.stdoutBytes.toString('latin1')).toBe(wireBytes(dropped).toString('latin1'));
  });
});
