import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MailboxLockedError } from '@mailnode/message-store';
import { MaildirStore, parseMaildirName } from '../src/index.ts';
import { killHard, spawnFixture, waitForLine } from './child-process.ts';
import { seedOf, storedMessage } from './fixtures/crash-message.ts';
import { maildirOf, makeTempRoot, namesIn, referenceWireSize, removeTempRoot } from './helpers.ts';

const ROUNDS = 5;
const CHILDREN_PER_ROUND = 3;

let root: string;

beforeEach(async () => {
  root = await makeTempRoot();
});

afterEach(async () => {
  await removeTempRoot(root);
});

/**
 * Every visible file must be one complete expected message whose name tells its sizes.
 * Returns the number of files checked.
 */
async function verifyVisibleMessages(maildir: string): Promise<number> {
  let count = 0;
  for (const sub of ['new', 'cur']) {
    const dir = join(maildir, sub);
    for (const name of await namesIn(dir)) {
      const parsed = parseMaildirName(name);
      const data = await readFile(join(dir, name));
      expect((await stat(join(dir, name))).size, name).toBe(parsed.size);
      expect(data.length, name).toBe(parsed.size);
      const seed = seedOf(data);
      expect(seed, name).toBeDefined();
      expect(data.equals(storedMessage(seed!)), `${name} holds the complete message ${seed}`).toBe(true);
      expect(parsed.wireSize, name).toBe(referenceWireSize(data));
      count++;
    }
  }
  return count;
}

/** Kills a child after a random delay; the first child's timer also runs a POP3 open alongside the deliveries. */
async function killLater(store: MaildirStore, child: ReturnType<typeof spawnFixture>, withSession: boolean): Promise<void> {
  await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 300)));
  if (withSession) {
    // Moves new/ to cur/ while deliveries go on.
    const session = await store.openMailbox('victim').catch((e: unknown) => {
      if (e instanceof MailboxLockedError) return undefined;
      throw e;
    });
    await session?.release();
  }
  await killHard(child);
}

describe('crash safety', () => {
  it('never shows a partial message when deliverers are SIGKILLed at random moments', async () => {
    const store = new MaildirStore({ root, hostname: 'mx.test' });
    const maildir = maildirOf(root, 'victim');
    let kills = 0;
    let verified = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const children = Array.from({ length: CHILDREN_PER_ROUND }, (_, c) =>
        spawnFixture('crash-deliverer.ts', [root, 'victim', `r${round}c${c}`]),
      );
      try {
        await Promise.all(children.map((child) => waitForLine(child, 'ready')));
        await Promise.all(children.map((child, c) => killLater(store, child, c === 0)));
        kills += children.length;
      } finally {
        await Promise.all(children.map((child) => killHard(child)));
      }

      const visible = await verifyVisibleMessages(maildir);
      verified += visible;
      // Serve and delete everything as a POP3 client would, so each round checks only new files.
      const session = await store.openMailbox('victim');
      expect(session.messages).toHaveLength(visible);
      expect(await namesIn(join(maildir, 'new'))).toEqual([]);
      for (const [i, message] of session.messages.entries()) {
        const content = await session.read(i);
        expect(content.kind).toBe('reader');
        if (content.kind === 'reader') content.reader.close();
        expect(message.size).toBeGreaterThanOrEqual(200 * 1024);
      }
      const all = new Set(session.messages.map((_, i) => i));
      expect(await session.commit(all)).toEqual({ deleted: visible, missing: 0 });
      expect(await verifyVisibleMessages(maildir)).toBe(0);
    }
    expect(kills).toBe(ROUNDS * CHILDREN_PER_ROUND);
    expect(verified).toBeGreaterThan(0);
  });
});
