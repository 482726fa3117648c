/**
 * The node dies (SIGKILL) while a client is in TRANSACTION with a DELE pending. A new node on
 * the same state dir must recover the lock the dead one left behind (login works, no [IN-USE]),
 * and nothing is deleted: without QUIT there is no UPDATE state.
 */
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME, MaildirStore } from '@mailnode/maildir';
import { LineClient } from '../../apps/pop3-server/test/line-client.ts';
import { curl } from '../harness/curl-client.ts';
import { killAllTools } from '../harness/external-tool.ts';
import { startMailnode, stopAllMailnodes } from '../harness/mailnode-process.ts';
import { sampleMessages, wireBytes } from '../harness/sample-messages.ts';

const clients: LineClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  killAllTools();
  await stopAllMailnodes();
});
afterAll(() => killAllTools());

async function loggedIn(port: number): Promise<{ client: LineClient; reply: string }> {
  const client = await LineClient.connect(port);
  clients.push(client);
  expect(await client.line()).toMatch(/^\+OK /);
  expect(await client.command('USER alice')).toMatch(/^\+OK/);
  return { client, reply: await client.command('PASS pw-alice') };
}

async function uidlListing(client: LineClient): Promise<string[]> {
  expect(await client.command('UIDL')).toMatch(/^\+OK/);
  return (await client.multiline())
    .toString('latin1')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[1]!);
}

const exists = (path: string) => access(path).then(() => true, () => false);

describe('crash recovery', () => {
  it('recovers the lock of a SIGKILLed node and keeps messages deleted without QUIT', async () => {
    const first = await startMailnode();
    const samples = sampleMessages().slice(0, 3);
    const store = new MaildirStore({ root: first.mailRoot, hostname: 'testdeliver' });
    for (const sample of samples) await store.deliver('alice', sample.bytes, { crlf: sample.crlf });

    const { client, reply } = await loggedIn(first.ports.pop3);
    expect(reply).toMatch(/^\+OK Logged in, 3 messages/);
    const before = await uidlListing(client);
    expect(before).toHaveLength(3);
    expect(await client.command('DELE 1')).toMatch(/^\+OK/);

    const lock = join(first.mailRoot, 'alice', 'Maildir', LOCK_FILE_NAME);
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: first.pid });
    await first.kill9();
    await client.closed();
    // The dead node could not clean up: its lock is still there.
    expect(await exists(lock)).toBe(true);

    const second = await startMailnode({ stateDir: first.stateDir });
    const again = await loggedIn(second.ports.pop3);
    expect(again.reply).toMatch(/^\+OK Logged in, 3 messages/);
    expect(await uidlListing(again.client)).toEqual(before);
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({ pid: second.pid });
    expect(await again.client.command('RETR 1')).toMatch(/^\+OK/);
    const body = await again.client.multiline();
    // Still dot-stuffed on the wire; sample 1 has no line starting with '.'.
    expect(body.toString('latin1')).toBe(wireBytes(samples[0]!).toString('latin1'));
    expect(await again.client.command('QUIT')).toBe('+OK Logging out, 0 messages deleted');
    await again.client.closed();
    expect(await exists(lock)).toBe(false);

    // And an ordinary client sees all three.
    const list = await curl([`pop3://127.0.0.1:${second.ports.pop3}/`, '-u', 'alice:pw-alice']);
    expect(list.code).toBe(0);
    expect(list.stdout.trim().split(/\r?\n/)).toHaveLength(3);
  });
});
