/**
 * Load on the retriever: 50 retriever clients (50 Dovecot users × 20 messages of 4 KiB) in one
 * long-running node (`startMailnode`: POP3 server and retriever in one process) with
 * `delay_start: 0s`, every client `freq: 0` (polls again as soon as its run ends) and
 * `processes: 5`. The clients deliver into 10 local users, 5 clients each (so 5 sessions may
 * write into one Maildir at once).
 *
 * A counting relay in front of Dovecot records every connection (open from accept to the
 * client's FIN): the number of sessions open at once must never exceed 5, and must exceed 1
 * (the cap is used, not a serial queue). Every message must arrive exactly once, byte-identical
 * (Received header taken off), in the right local mailbox, and Dovecot must end empty; a few
 * more seconds of polling change nothing. The time from the node's start to the last message
 * and the concurrency profile are printed (and recorded in docs/reliability.md).
 *
 * MAILNODE_LONG=1: 200 clients × 20 messages (still processes: 5).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { fixed4k, type GeneratedMessage } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, waitFor } from '../harness/mailnode-process.ts';
import { copyProblems, maildirFiles } from '../retriever/helpers.ts';
import { startRelay, type Relay } from '../harness/relay.ts';
import { listMaildir, sleep } from './pop3-check.ts';

const unavailable = dovecotUnavailableReason();
const LONG = process.env.MAILNODE_LONG === '1';
const CLIENTS = LONG ? 200 : 50;
const PER_CLIENT = 20;
const PROCESSES = 5;
const LOCAL_USERS = 10;

const remoteUser = (i: number) => `r${String(i).padStart(3, '0')}`;
const localUser = (i: number) => `l${i % LOCAL_USERS}`;

let dovecot: DovecotInstance | undefined;
let relay: Relay | undefined;
const mail = new Map<string, GeneratedMessage[]>();

beforeAll(async () => {
  if (unavailable) return;
  dovecot = await startDovecot({ users: Array.from({ length: CLIENTS }, (_, i) => ({ name: remoteUser(i), password: `pw-${remoteUser(i)}` })) });
  for (let i = 0; i < CLIENTS; i++) {
    const messages = fixed4k(PER_CLIENT, 500 + i);
    mail.set(remoteUser(i), messages);
    await dovecot.fill(remoteUser(i), messages);
  }
  relay = await startRelay({ port: dovecot.plainPort });
}, 60_000);

afterAll(async () => {
  await stopAllMailnodes();
  await relay?.close();
  await dovecot?.stop();
});

/** Messages still in Dovecot's Maildirs, over all remote users. */
function remoteCount(): number {
  let n = 0;
  for (let i = 0; i < CLIENTS; i++) n += listMaildir(dovecot!.maildirOf(remoteUser(i))).length;
  return n;
}

describe.skipIf(unavailable)('many retriever clients against one Dovecot', () => {
  it(`${CLIENTS} clients × ${PER_CLIENT} messages with processes: ${PROCESSES}: at most ${PROCESSES} sessions at once, every message exactly once`, async () => {
    const users = Array.from({ length: LOCAL_USERS }, (_, i) => `l${i}:pw-l${i}\n`).join('');
    const clients = Array.from({ length: CLIENTS }, (_, i) => ({
      id: `c${String(i).padStart(3, '0')}`,
      recip: localUser(i),
      freq: 0,
      server: { address: `127.0.0.1:${relay!.port}`, username: remoteUser(i), password: `pw-${remoteUser(i)}` },
    }));
    relay!.resetCounters();
    const started = Date.now();
    const node = await startMailnode({
      users,
      config: { pop3download: { delay_start: '0s', processes: PROCESSES, timeout: '15s', clients } },
      timeoutMs: 30_000,
    });
    const startedUp = Date.now();
    const total = CLIENTS * PER_CLIENT;
    const localCount = () => {
      let n = 0;
      for (let u = 0; u < LOCAL_USERS; u++) n += listMaildir(join(node.mailRoot, `l${u}`, 'Maildir')).length;
      return n;
    };
    await waitFor(`${total} messages delivered and Dovecot empty`, () => localCount() >= total && remoteCount() === 0, LONG ? 240_000 : 45_000, 50);
    const doneAt = Date.now();
    const sessionsToDone = relay!.connections;
    const events = [...relay!.events];
    // Polling goes on: nothing may change.
    await sleep(2000);
    expect(localCount()).toBe(total);

    for (let u = 0; u < LOCAL_USERS; u++) {
      const expected = Array.from({ length: CLIENTS }, (_, i) => i)
        .filter((i) => i % LOCAL_USERS === u)
        .flatMap((i) => mail.get(remoteUser(i))!);
      const files = await maildirFiles(join(node.mailRoot, `l${u}`, 'Maildir'));
      expect(copyProblems(files, expected, { received: 'required', recip: `l${u}` }), `local user l${u}`).toEqual([]);
    }
    expect(remoteCount()).toBe(0);
    expect(node.stderr().split('\n').filter((line) => /"level":(50|60)/.test(line))).toEqual([]);
    const failed = node.stderr().split('\n').filter((line) => line.includes('"retrieval failed"'));

    // Concurrency as the relay saw it.
    expect(relay!.maxActive).toBeLessThanOrEqual(PROCESSES);
    expect(relay!.maxActive).toBeGreaterThan(1);
    const atLevel = new Map<number, number>();
    for (let i = 0; i + 1 < events.length; i++) {
      const span = events[i + 1]!.at - events[i]!.at;
      atLevel.set(events[i]!.open, (atLevel.get(events[i]!.open) ?? 0) + span);
    }
    const window = Math.max(1, events.at(-1)!.at - events[0]!.at);
    const profile = [...atLevel].sort((a, b) => a[0] - b[0]).map(([level, ms]) => `${level}: ${((100 * ms) / window).toFixed(0)} %`);
    await node.stop();
    console.log(
      `many-clients: ${CLIENTS} clients × ${PER_CLIENT} messages (${total}, ${((total * 4096) / 1e6).toFixed(1)} MB), processes ${PROCESSES}: node up in ${startedUp - started} ms, all delivered ${doneAt - startedUp} ms after startup (${doneAt - started} ms from spawn); ${sessionsToDone} sessions until then; max concurrent sessions ${relay!.maxActive}; time at each level: ${profile.join(', ')}; ${failed.length} failed runs`,
    );
  }, LONG ? 300_000 : 90_000);
});
