/**
 * Disk full (ENOSPC) under the retriever. The node's state dir (Maildirs, UIDL ledger, lock)
 * lives on a tmpfs of 3 MiB; Dovecot holds 200 messages of 32 KiB (6.4 MB: about half fits).
 *
 *  1. `mailnode fetch --once` (batches of 10): exits non-zero, naming the disk-full condition
 *     (ENOSPC / "disk full" / "no space") in its output or log; afterwards every message is
 *     exactly once in (local Maildir ∪ Dovecot), never in both and never missing (so Dovecot
 *     deleted only messages that are complete here: the local copies are byte-identical); no
 *     partial file in new/ or cur/, none left in tmp/. Then the tmpfs grows to 64 MiB
 *     (`mount -o remount,size=64m`) and a second fetch --once brings the rest: all 200 exactly
 *     once here, byte-identical, Dovecot empty.
 *  2. A long-running node (`startMailnode`, freq 1s, delay_start 0s) on a full 3 MiB tmpfs:
 *     it logs the ENOSPC failure, keeps polling, and once the tmpfs grows it finishes the job
 *     by itself, without a restart.
 *
 * Found by this file and fixed since, each set up deterministically on a tmpfs of exact size:
 *  3. the UIDL ledger ignores short writes: a "pending" record torn by a full disk makes the next
 *     run fetch the message again (a duplicate);
 *  4. a run that fails part-way reports "(nothing fetched)" although it stored and deleted messages;
 *  5. on a completely full disk no POP3 login succeeds (the mailbox lock's record cannot be written);
 *  6. downloads_directory mode ignores short writes: a streamed message (> 1 MiB) is published
 *     truncated and deleted on the server.
 *
 * Needs root (mount); skipped otherwise, except with CI=true, where it fails instead: CI runs
 * as root and must run it. A failing mount as root fails the test with mount's message. Every
 * tmpfs is unmounted in afterAll, also when a test failed (and at process exit as a last resort).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME } from '@mailnode/maildir';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../harness/dovecot.ts';
import { fillMaildir, fixedSize, makeMessage, Rng, type GeneratedMessage } from '../harness/mail-generator.ts';
import { startMailnode, stopAllMailnodes, waitFor } from '../harness/mailnode-process.ts';
import { describeFetch, fetchOnce, filesIn, killAllFetches, partialFiles, writeFetchConfig } from '../retriever-faults/fetch-process.ts';
import { copyProblems, dovecotClient, explain, fetchConfig, lf, localMaildir, maildirFiles, messageIdOf, remoteFiles, retrieverEnv, runFetch, splitReceived, type MailFile } from '../retriever/helpers.ts';
import { login, retrieveAll } from './pop3-check.ts';
import { mountTmpfs, tmpfsUnavailableReason, unmountAll } from './tmpfs.ts';

const noMount = tmpfsUnavailableReason();
const noDovecot = dovecotUnavailableReason();
const CI = process.env.CI === 'true';
const COUNT = 200;
const SIZE = 32 * 1024;
const DISK_FULL = /ENOSPC|disk full|no space/i;

let dovecot: DovecotInstance | undefined;
const mail = new Map<string, GeneratedMessage[]>();

if (CI && noMount) {
  describe('disk full', () => {
    it('runs in CI', () => {
      throw new Error(`CI=true but ${noMount}: the disk-full tests must run in CI`);
    });
  });
}

/** Message-ID of a copy, after taking mailnode's Received header off the top. */
function idOf(file: MailFile): string {
  return messageIdOf(splitReceived(lf(file.bytes)).rest) ?? `?${file.name}`;
}

/** Problems with "each generated message exactly once in local ∪ remote, never in both". */
function unionProblems(local: readonly MailFile[], remote: readonly MailFile[], expected: readonly GeneratedMessage[]): string[] {
  const count = new Map<string, { local: number; remote: number }>();
  for (const m of expected) count.set(m.messageId, { local: 0, remote: 0 });
  const problems: string[] = [];
  for (const [where, files] of [['local', local], ['remote', remote]] as const) {
    for (const file of files) {
      const entry = count.get(idOf(file));
      if (!entry) problems.push(`${where}: unexpected ${file.name}`);
      else entry[where]++;
    }
  }
  for (const [id, { local: l, remote: r }] of count) {
    if (l + r !== 1) problems.push(`${id}: ${l} local + ${r} remote copies`);
  }
  return problems;
}

describe.skipIf(noMount !== undefined || noDovecot !== undefined)('disk full (ENOSPC) under the retriever', () => {
  beforeAll(async () => {
    dovecot = await startDovecot({
      users: [
        { name: 'alice', password: 'pw-alice' },
        { name: 'bob', password: 'pw-bob' },
        { name: 'carol', password: 'pw-carol' },
        { name: 'dave1', password: 'pw-dave1' },
        { name: 'dave2', password: 'pw-dave2' },
        { name: 'erin', password: 'pw-erin' },
      ],
    });
    const big = makeMessage(new Rng(35), 'short-write', 35, 0, 1_500_000);
    for (const user of ['dave1', 'dave2']) {
      mail.set(user, [big]);
      await dovecot.fill(user, [big]);
    }
    const forCarol = fixedSize(20, 4096, 33, 'torn-carol');
    mail.set('carol', forCarol);
    await dovecot.fill('carol', forCarol);
    for (const [user, seed] of [['alice', 31], ['bob', 32], ['erin', 34]] as const) {
      const messages = fixedSize(COUNT, SIZE, seed, `full-${user}`);
      mail.set(user, messages);
      await dovecot.fill(user, messages);
    }
  }, 60_000);

  afterAll(async () => {
    killAllFetches();
    await stopAllMailnodes();
    await dovecot?.stop();
    unmountAll();
  });

  it('fetch --once stops at ENOSPC, deletes only what is stored, and completes once space returns', async () => {
    const mount = mountTmpfs('3m');
    const expected = mail.get('alice')!;
    const setup = await writeFetchConfig(mount.path, {
      address: `127.0.0.1:${dovecot!.plainPort}`,
      username: 'alice',
      password: 'pw-alice',
      preserve: false,
      timeout: '10s',
      limits: { batch_messages: 10 },
    });

    const full = await fetchOnce(setup, { deadlineMs: 45_000 });
    expect(full.timedOut, describeFetch(full)).toBe(false);
    expect(full.code, describeFetch(full)).not.toBe(0);
    // Clearly named, on stdout (the summary line) and in the log.
    const failedLine = full.stdout.split('\n').find((line) => /FAILED/.test(line)) ?? '';
    expect(failedLine, describeFetch(full)).toMatch(DISK_FULL);
    expect(full.log.some((r) => Number(r.level) >= 40 && DISK_FULL.test(JSON.stringify(r))), describeFetch(full)).toBe(true);

    const local = await maildirFiles(setup.maildir);
    const remote = await remoteFiles(dovecot!, 'alice');
    expect(local.length, 'something was stored before the disk filled').toBeGreaterThan(0);
    expect(local.length).toBeLessThan(COUNT);
    expect(unionProblems(local, remote, expected)).toEqual([]);
    // The local copies are complete (byte-identical to the originals) and nothing is partial.
    const storedHere = expected.filter((m) => local.some((f) => idOf(f) === m.messageId));
    expect(copyProblems(local, storedHere, { received: 'required', recip: 'alice' })).toEqual([]);
    expect(partialFiles(setup.maildir)).toEqual([]);
    expect(filesIn(setup.maildir, 'tmp')).toEqual([]);
    console.log(
      `disk-full fetch --once on 3 MiB: exit ${full.code} after ${full.elapsedMs} ms; ${local.length} stored here, ${remote.length} left on Dovecot, 0 in both; summary: ${failedLine.trim()}`,
    );

    mount.remount('64m');
    const rest = await fetchOnce(setup, { deadlineMs: 45_000 });
    expect(rest.code, describeFetch(rest)).toBe(0);
    const all = await maildirFiles(setup.maildir);
    expect(copyProblems(all, expected, { received: 'required', recip: 'alice' })).toEqual([]);
    expect(all.length).toBe(COUNT);
    expect(await remoteFiles(dovecot!, 'alice')).toEqual([]);
    expect(partialFiles(setup.maildir)).toEqual([]);
    console.log(`disk-full after remount to 64 MiB: exit 0 after ${rest.elapsedMs} ms; ${rest.stdout.trim().split('\n').at(-1)}`);
  }, 120_000);

  it('a running node logs ENOSPC, keeps polling, and finishes by itself once space returns', async () => {
    const mount = mountTmpfs('3m');
    const expected = mail.get('bob')!;
    const stateDir = join(mount.path, 'state');
    const node = await startMailnode({
      stateDir,
      config: {
        pop3download: {
          delay_start: '0s',
          timeout: '10s',
          limits: { batch_messages: 10 },
          clients: [{ id: 'bob-remote', recip: 'bob', freq: '1s', server: { address: `127.0.0.1:${dovecot!.plainPort}`, username: 'bob', password: 'pw-bob' } }],
        },
      },
    });
    const maildir = join(stateDir, 'mail', 'bob', 'Maildir');
    const failures = () => node.stderr().split('\n').filter((line) => line.includes('"retrieval failed"') && DISK_FULL.test(line));
    await waitFor('a retrieval failing with ENOSPC', () => failures().length >= 2, 30_000, 100);
    const local = await maildirFiles(maildir);
    const remote = await remoteFiles(dovecot!, 'bob');
    expect(unionProblems(local, remote, expected)).toEqual([]);
    expect(partialFiles(maildir)).toEqual([]);
    const stuck = local.length;

    const grownAt = Date.now();
    mount.remount('64m');
    await waitFor('all messages delivered after the remount', async () => (await maildirFiles(maildir)).length >= COUNT && (await remoteFiles(dovecot!, 'bob')).length === 0, 30_000, 100);
    const recoveredMs = Date.now() - grownAt;
    const all = await maildirFiles(maildir);
    expect(copyProblems(all, expected, { received: 'required', recip: 'bob' })).toEqual([]);
    expect(partialFiles(maildir)).toEqual([]);
    expect(await Promise.race([node.exited.then(() => 'exited'), new Promise((resolve) => setTimeout(() => resolve('running'), 50))])).toBe('running');
    console.log(
      `disk-full running node: ${failures().length} failed polls logging ENOSPC with ${stuck} of ${COUNT} stored; all ${COUNT} delivered ${recoveredMs} ms after the remount, no restart. First failure: ${failures()[0]?.slice(0, 400)}`,
    );
    await node.stop();
  }, 120_000);

  // The UIDL ledger's append (apps/retriever/src/file-ledger.ts) writes with one FileHandle.write
  // and ignores a short count. On a full disk the kernel writes what fits (tmpfs: up to the end of
  // the last page it could allocate) and reports success, so a "pending" record can be torn while
  // the run carries on and publishes the message. The next append then fails with ENOSPC, the run
  // ends without QUIT, and the next run finds neither a pending nor a delivered record for that
  // message: it fetches it again. Set up deterministically: the ledger sits on a tmpfs of one page
  // (uidl_dir), pre-filled with a valid ledger line up to 40 bytes before the page's end, so the
  // first pending record (about 130 bytes) is torn.
  it('a pending ledger record torn by a full disk does not make the next run fetch the message again', async () => {
    const mount = mountTmpfs('4k');
    const env = await retrieverEnv();
    const expected = mail.get('carol')!;
    const filler = `{"d":"filler-${'x'.repeat(4096 - 40 - 16)}"}\n`;
    expect(filler.length).toBe(4096 - 40);
    writeFileSync(join(mount.path, 'torn.uidl'), filler, { mode: 0o600 });
    const config = fetchConfig(env, [dovecotClient(dovecot!, 'torn', 'carol', { recip: 'alice' })], { uidl_dir: mount.path, limits: { batch_messages: 1 } });

    const first = await runFetch(env, config);
    expect(first.code, await explain(first, env)).not.toBe(0);
    const ledger = readFileSync(join(mount.path, 'torn.uidl'), 'utf8');
    const torn = ledger.slice(filler.length);
    console.log(`torn ledger: run 1 exit ${first.code}: ${first.stdout.trim()}; ledger gained ${JSON.stringify(torn)}; ${(await maildirFiles(localMaildir(env, 'alice'))).length} stored here`);

    mount.remount('64m');
    const second = await runFetch(env, config);
    expect(second.code, await explain(second, env)).toBe(0);
    const local = await maildirFiles(localMaildir(env, 'alice'));
    expect(copyProblems(local, expected, { received: 'required', recip: 'alice' })).toEqual([]);
    expect(await remoteFiles(dovecot!, 'carol')).toEqual([]);
  }, 60_000);

  // The run above stored and deleted 80 messages before the disk filled, but its summary line
  // says "(nothing fetched)" and the "retrieval failed" log record carries no counts: the
  // client machine assigns `result` only when the download finishes (client-machine.ts), and
  // fetch-command.ts prints 'nothing fetched' when it is absent. An operator reading the
  // output of a disk-full run cannot tell that part of the mailbox was moved.
  it('the summary of a run that failed part-way says how many messages were stored and deleted', async () => {
    const mount = mountTmpfs('3m');
    // A mailbox of its own: the other tests drain alice's and bob's.
    const setup = await writeFetchConfig(mount.path, { address: `127.0.0.1:${dovecot!.plainPort}`, username: 'erin', password: 'pw-erin', preserve: false, timeout: '10s', limits: { batch_messages: 10 } });
    const run = await fetchOnce(setup, { deadlineMs: 45_000 });
    expect(run.code, describeFetch(run)).not.toBe(0);
    const stored = (await maildirFiles(setup.maildir)).length;
    const deleted = COUNT - (await remoteFiles(dovecot!, 'erin')).length;
    expect(stored).toBeGreaterThan(0);
    const failedLine = run.stdout.split('\n').find((line) => /FAILED/.test(line)) ?? '';
    expect(failedLine).toContain(`${stored} messages`);
    expect(failedLine).toContain(`${deleted} deleted`);
  }, 60_000);

  // When the disk is completely full, mailnode refuses every POP3 login with -ERR [SYS/TEMP]:
  // MailboxLock.create() (libs/maildir/src/lock.ts) creates the lock file and then writes its
  // JSON record into it, and that write needs a data block (ENOSPC; the file is removed again).
  // So users cannot log in to read or DELE mail, which is what would free the space, while the
  // retriever is the one filling it. Measured: `-ERR [SYS/TEMP] Temporary server failure, try
  // again later`, log: `cannot lock mailbox of alice: disk full (ENOSPC)` from MailboxLock.fill.
  it('on a completely full disk a POP3 user can still log in, read, and delete mail to free space', async () => {
    const mount = mountTmpfs('3m');
    const stateDir = join(mount.path, 'state');
    const node = await startMailnode({ stateDir });
    const maildir = join(stateDir, 'mail', 'alice', 'Maildir');
    await fillMaildir(maildir, fixedSize(20, SIZE, 34, 'full-pop3'));
    // Fill every remaining byte.
    const fd = openSync(join(mount.path, 'filler'), 'w');
    const chunk = Buffer.alloc(4096, 0x61);
    try {
      for (;;) writeSync(fd, chunk);
    } catch (error) {
      expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
    } finally {
      closeSync(fd);
    }
    const { client, reply } = await login(node.ports.pop3, 'alice', 'pw-alice');
    try {
      expect(reply, node.stderr().split('\n').filter((line) => /"level":(40|50)/.test(line)).join('\n')).toMatch(/^\+OK Logged in, 20 messages/);
      expect((await retrieveAll(client, [1, 2])).size).toBe(2);
      expect(await client.command('DELE 1')).toMatch(/^\+OK/);
      expect(await client.command('QUIT')).toBe('+OK Logging out, 1 messages deleted');
      expect(existsSync(join(maildir, LOCK_FILE_NAME))).toBe(false);
    } finally {
      client.close();
    }
  }, 60_000);

  // downloads_directory mode streams a message above 1 MiB into its file chunk by chunk with
  // writeSource() (apps/retriever/src/sinks/write-source.ts), which ignores the byte count of
  // FileHandle.write. On a full disk the last chunk's write is short and reports no error, the
  // file is fsynced, renamed into place truncated, and the message is DELEd on the server: the
  // end of the message is lost. (The SMTP and domain-wide spools use the same writeSource.) Set
  // up deterministically: the downloads directory is a tmpfs one page smaller than the file.
  // Measured: the file needs 1 521 853 bytes, the tmpfs holds 1 519 616; the run exits 0 with
  // "ok, 1 messages, 1.52 MB, 1 deleted from the server" and the published file has 1 519 616 bytes.
  it('downloads_directory on a disk that fills during the last write: no truncated file, the message stays on the server', async () => {
    const message = mail.get('dave1')![0]!;
    // Dry run with room: the size of the file this message makes.
    const roomy = await retrieverEnv();
    const dryDir = join(roomy.dir, 'downloads');
    const dry = await runFetch(roomy, fetchConfig(roomy, [dovecotClient(dovecot!, 'dry', 'dave1', { downloads_directory: dryDir, omitreceivedheader: 'Y', preserve: 'Y' })]));
    expect(dry.code, await explain(dry, roomy)).toBe(0);
    const [dryFile] = readdirSync(dryDir).filter((name) => !name.startsWith('.'));
    const fileSize = statSync(join(dryDir, dryFile!)).size;
    expect(fileSize).toBeGreaterThanOrEqual(message.size);

    const pages = Math.floor((fileSize - 1) / 4096);
    const mount = mountTmpfs(String(pages * 4096));
    const env = await retrieverEnv();
    const run = await runFetch(env, fetchConfig(env, [dovecotClient(dovecot!, 'short', 'dave2', { downloads_directory: mount.path, omitreceivedheader: 'Y' })]));
    const visible = readdirSync(mount.path).filter((name) => !name.startsWith('.'));
    const sizes = visible.map((name) => statSync(join(mount.path, name)).size);
    const remote = await remoteFiles(dovecot!, 'dave2');
    console.log(`short write: file needs ${fileSize} bytes, tmpfs holds ${pages * 4096}; run exit ${run.code}: ${run.stdout.trim()}; visible files ${JSON.stringify(sizes)}; ${remote.length} left on Dovecot`);
    expect(sizes.filter((size) => size !== fileSize), 'truncated files published').toEqual([]);
    expect(remote.length + visible.length).toBe(1);
  }, 60_000);
});
