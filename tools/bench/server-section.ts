/**
 * `npm run bench -- --only server`: mailnode's POP3 server against Dovecot 2.3 (perf profile),
 * side by side on the same generated mailboxes, driven by one load client (pop3-load.ts).
 *
 * Accounts (password pw-<user> on both servers):
 *   bench          fixed4k: 2 000 x 4 KiB          (RETR lock-step and pipelined)
 *   benchmix       mixed: 300 messages, ~49 MB     (RETR lock-step)
 *   u01..u32       10 x 4 KiB each                 (logins: C concurrent clients, each on its own mailbox)
 *   idle0001..     empty                           (idle: 2 000 logged-in sessions, one mailbox each)
 *
 * Order: warm-up (every mailbox opened once, 200 logins, one untimed RETR pass), idle (early, so
 * the baseline is not inflated by the garbage of the throughput tests), logins at C=1, 8, 32
 * (median of 3 runs), then RETR: per series, untimed passes until the server CPU per message
 * settles (warmRetr), then the median of 5 timed runs. The two servers alternate in each repetition.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../../test/harness/dovecot.ts';
import { fillMaildir, fixed4k, makeMaildir, mixed, totalBytes, type GeneratedMessage } from '../../test/harness/mail-generator.ts';
import { processTree, treeMemory, type TreeMemory } from '../../test/harness/proc-stats.ts';
import { onCleanup } from './cleanup.ts';
import { startMailnode, type MailnodeProcess } from './mailnode-process.ts';
import { measureIdle, measureLogins, measureRetr, Pop3Conn, type Account, type IdleResult, type LoginResult, type RetrOptions, type RetrResult, type Target } from './pop3-load.ts';
import type { BenchContext, Row, Section, SectionResult } from './report.ts';

interface Sizes {
  fixedCount: number;
  mixedCount: number;
  idleSessions: number;
  loginSessions: number;
  loginSeconds: number;
  concurrency: number[];
  loginReps: number;
  retrReps: number;
  /** Most untimed RETR passes before a timed series (fewer once CPU per message settles). */
  retrWarmPasses: number;
  window: number;
  idleHoldSeconds: number;
}

const FULL: Sizes = {
  fixedCount: 2000,
  mixedCount: 300,
  idleSessions: 2000,
  loginSessions: 1500,
  loginSeconds: 15,
  concurrency: [1, 8, 32],
  loginReps: 3,
  retrReps: 5,
  retrWarmPasses: 6,
  window: 256,
  idleHoldSeconds: 3,
};

const QUICK: Sizes = {
  fixedCount: 300,
  mixedCount: 40,
  idleSessions: 200,
  loginSessions: 200,
  loginSeconds: 3,
  concurrency: [1, 8, 32],
  loginReps: 1,
  retrReps: 1,
  retrWarmPasses: 1,
  window: 256,
  idleHoldSeconds: 1,
};

const account = (user: string): Account => ({ user, password: `pw-${user}` });

/** Within this fraction, two passes in a row count as settled. */
const SETTLED = 0.1;

/**
 * Untimed RETR passes until the server's CPU per message settles (two passes in a row within
 * SETTLED of each other) or `maxPasses` ran. Returns each pass's CPU per message.
 */
async function warmRetr(target: Target, options: RetrOptions, maxPasses: number): Promise<{ passes: number; usPerMsg: number[] }> {
  const usPerMsg: number[] = [];
  while (usPerMsg.length < maxPasses) {
    usPerMsg.push((await measureRetr(target, options)).serverCpuUsPerMsg);
    const [before, last] = usPerMsg.slice(-2);
    if (usPerMsg.length >= 2 && Math.abs(last! - before!) <= SETTLED * Math.max(before!, last!)) break;
  }
  return { passes: usPerMsg.length, usPerMsg };
}
const pad = (n: number, width: number) => String(n).padStart(width, '0');

function median<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

interface Side {
  readonly label: 'mailnode' | 'dovecot';
  target: Target;
}

export const serverSection: Section = {
  name: 'server',
  description: "mailnode's POP3 server vs Dovecot 2.3 (perf profile): logins/s, RETR throughput, memory per idle session",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const reason = dovecotUnavailableReason();
    if (reason) throw new Error(`the server benchmark needs Dovecot: ${reason}`);
    const sizes = ctx.quick ? QUICK : FULL;
    const log = ctx.log;
    const work = await mkdtemp(join(tmpdir(), 'mailnode-bench-'));
    await chmod(work, 0o755);
    const unregisterDir = onCleanup(`remove ${work}`, () => (ctx.keep ? undefined : rm(work, { recursive: true, force: true })));
    let dovecot: DovecotInstance | undefined;
    let mailnode: MailnodeProcess | undefined;
    try {
      // ---- mail and accounts ------------------------------------------------------------------
      log(`generating mail: fixed4k x ${sizes.fixedCount}, mixed x ${sizes.mixedCount}`);
      const fixed = fixed4k(sizes.fixedCount, 1);
      const mix = mixed(sizes.mixedCount, 1);
      const small = fixed4k(10, 2);
      const maxC = Math.max(...sizes.concurrency);
      const loginUsers = Array.from({ length: Math.max(20, maxC) }, (_, i) => `u${pad(i + 1, 2)}`);
      const idleUsers = Array.from({ length: sizes.idleSessions }, (_, i) => `idle${pad(i + 1, 4)}`);
      const users = ['bench', 'benchmix', ...loginUsers, ...idleUsers];
      const filled: Array<[string, GeneratedMessage[]]> = [['bench', fixed], ['benchmix', mix], ...loginUsers.map((u): [string, GeneratedMessage[]] => [u, small])];

      // ---- Dovecot ------------------------------------------------------------------------------
      log(`starting Dovecot (perf profile) with ${users.length} users`);
      const startDovecotHere = async () => {
        const instance = await startDovecot({ profile: 'perf', users: users.map((u) => ({ name: u, password: `pw-${u}` })), dir: join(work, 'dovecot'), nofile: ctx.nofile });
        const unregister = onCleanup(`dovecot pid ${instance.pid}`, () => instance.stop());
        return { instance, unregister };
      };
      const dv = await startDovecotHere();
      dovecot = dv.instance;
      for (const [user, messages] of filled) await dovecot.fill(user, messages);

      // ---- mailnode -----------------------------------------------------------------------------
      const mnDir = join(work, 'mailnode');
      const mailRoot = join(mnDir, 'mail');
      await mkdir(mnDir, { recursive: true });
      const usersFile = join(mnDir, 'users');
      await writeFile(usersFile, users.map((u) => `${u}:{PLAIN}pw-${u}\n`).join(''), { mode: 0o600 });
      for (const [user, messages] of filled) await fillMaildir(join(mailRoot, user, 'Maildir'), messages);
      for (let i = 0; i < idleUsers.length; i += 64) {
        await Promise.all(idleUsers.slice(i, i + 64).map((u) => makeMaildir(join(mailRoot, u, 'Maildir'))));
      }
      const startMailnodeHere = () =>
        startMailnode({
          repoRoot: ctx.repoRoot,
          dir: mnDir,
          usersFile,
          mailRoot,
          certFile: dovecot!.certFile,
          keyFile: dovecot!.keyFile,
          nofile: ctx.nofile,
          nodeFlags: ctx.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`] : [],
        });
      log('starting mailnode');
      mailnode = await startMailnodeHere();
      log(`mailnode pid ${mailnode.pid} port ${mailnode.port}; Dovecot pid ${dovecot.pid} port ${dovecot.plainPort}`);

      const sides: Side[] = [
        { label: 'mailnode', target: { name: 'mailnode', host: '127.0.0.1', port: mailnode.port, pid: mailnode.pid } },
        { label: 'dovecot', target: { name: 'dovecot', host: '127.0.0.1', port: dovecot.plainPort, pid: dovecot.pid } },
      ];
      const ordered = (rep: number) => (rep % 2 === 0 ? sides : [...sides].reverse());

      // ---- warm-up: every filled mailbox once (Dovecot builds its index, mailnode moves new/ to cur/)
      log('warm-up');
      for (const side of sides) {
        for (const [user] of filled) {
          const conn = await Pop3Conn.open('127.0.0.1', side.target.port);
          await conn.login(account(user));
          await conn.ok('STAT');
          await conn.ok('QUIT');
          conn.destroy();
        }
        await measureLogins(side.target, { concurrency: 4, maxSessions: 200, maxSeconds: 5, accounts: loginUsers.map(account) });
        // One untimed RETR pass (cold caches); the RETR series below warm up further on their own.
        await measureRetr(side.target, { account: account('bench'), pipelined: false, window: 1 });
      }

      // ---- idle sessions ------------------------------------------------------------------------
      const idle: Record<string, IdleResult & { processesAfterClose: number; afterClose: TreeMemory }> = {};
      for (const side of sides) {
        log(`idle: ${side.label}: opening ${idleUsers.length} logged-in sessions`);
        await sleep(1000);
        const result = await measureIdle(side.target, {
          accounts: idleUsers.map(account),
          rampConcurrency: 16,
          maxSeconds: 90,
          holdSeconds: sizes.idleHoldSeconds,
        });
        log(`idle: ${side.label}: opened ${result.opened} (${result.stoppedBy}) in ${result.openSeconds}s, alive ${result.aliveAfterHold}, RSS ${result.rssKbPerSession} KiB/session, PSS ${result.pssKbPerSession} KiB/session`);
        // Let the server wind the sessions down (Dovecot: one process per session exits).
        const settleDeadline = Date.now() + 60_000;
        while (processTree(side.target.pid).length > result.before.processes + 2 && Date.now() < settleDeadline) await sleep(200);
        await sleep(1000);
        idle[side.label] = { ...result, processesAfterClose: processTree(side.target.pid).length, afterClose: treeMemory(side.target.pid) };
      }

      // ---- logins -------------------------------------------------------------------------------
      const loginRuns: Record<number, Record<string, LoginResult[]>> = {};
      for (const C of sizes.concurrency) {
        loginRuns[C] = {};
        const accounts = loginUsers.slice(0, Math.max(20, C)).map(account);
        for (let rep = 0; rep < sizes.loginReps; rep++) {
          for (const side of ordered(rep)) {
            const result = await measureLogins(side.target, { concurrency: C, maxSessions: sizes.loginSessions, maxSeconds: sizes.loginSeconds, accounts });
            (loginRuns[C]![side.label] ??= []).push(result);
            log(`login C=${C} ${side.label}: ${result.sessionsPerSecond}/s p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms, errors ${result.errors}, server ${result.serverCpuMsPerSession} ms CPU/session, client CPU ${Math.round(result.clientCpuShare * 100)}%`);
            await sleep(300);
          }
        }
      }
      const logins: Record<number, Record<string, LoginResult>> = {};
      for (const C of sizes.concurrency) {
        logins[C] = {};
        for (const side of sides) logins[C]![side.label] = median(loginRuns[C]![side.label]!, (r) => r.sessionsPerSecond);
      }

      // ---- RETR ---------------------------------------------------------------------------------
      const retr: Record<string, Record<string, RetrResult[]>> = { fixedLockstep: {}, fixedPipelined: {}, mixedLockstep: {} };
      const runs: Array<[keyof typeof retr, string, boolean, string[]]> = [
        ['fixedLockstep', 'bench', false, fixed.map((m) => m.sha256)],
        ['fixedPipelined', 'bench', true, fixed.map((m) => m.sha256)],
        ['mixedLockstep', 'benchmix', false, mix.map((m) => m.sha256)],
      ];
      for (const [key, user, pipelined, expected] of runs) {
        // A long-running server is measured warm: untimed passes until the server's CPU per
        // message settles (V8 keeps optimizing mailnode's RETR path over its first few thousand
        // RETRs, and logins and idle sessions in between disturb it), the same for both servers.
        for (const side of sides) {
          const settled = await warmRetr(side.target, { account: account(user), pipelined, window: sizes.window }, sizes.retrWarmPasses);
          log(`retr ${key} ${side.label}: warm after ${settled.passes} untimed pass(es), ${settled.usPerMsg.join(' -> ')} us CPU/msg`);
        }
        for (let rep = 0; rep < sizes.retrReps; rep++) {
          for (const side of ordered(rep)) {
            const result = await measureRetr(side.target, { account: account(user), pipelined, window: sizes.window, expected });
            (retr[key]![side.label] ??= []).push(result);
            log(`retr ${key} ${side.label}: ${result.skipped ?? `${result.msgsPerSecond} msgs/s ${result.mbPerSecond} MB/s, server ${result.serverCpuUsPerMsg} us CPU/msg, client CPU ${Math.round(result.clientCpuShare * 100)}%, ${result.verify}`}`);
          }
        }
      }
      const med = (key: string, label: string) => {
        const list = retr[key]![label] ?? [];
        return list.length ? median(list, (r) => r.msgsPerSecond) : undefined;
      };

      // ---- stop ---------------------------------------------------------------------------------
      await mailnode.stop();
      mailnode = undefined;
      await dovecot.stop();
      dv.unregister();
      dovecot = undefined;

      // ---- table --------------------------------------------------------------------------------
      const rows: Row[] = [];
      for (const C of sizes.concurrency) {
        const m = logins[C]!.mailnode!;
        const d = logins[C]!.dovecot!;
        rows.push({
          metric: `logins/s C=${C} (p50/p99 ms)`,
          mailnode: m.sessionsPerSecond,
          peer: d.sessionsPerSecond,
          mailnodeDetail: `${m.p50Ms}/${m.p99Ms}${m.errors ? `, ${m.errors} errors` : ''}`,
          peerDetail: `${d.p50Ms}/${d.p99Ms}${d.errors ? `, ${d.errors} errors` : ''}`,
          aim: { text: '>= 4x', check: (r) => r >= 4 },
        });
      }
      const cTop = sizes.concurrency[sizes.concurrency.length - 1]!;
      rows.push({
        metric: `server CPU per login, C=${cTop}`,
        mailnode: logins[cTop]!.mailnode!.serverCpuMsPerSession,
        peer: logins[cTop]!.dovecot!.serverCpuMsPerSession,
        unit: 'ms',
        digits: 2,
      });
      const retrRow = (key: string, label: string, mbFirst: boolean): Row => {
        const m = med(key, 'mailnode');
        const d = med(key, 'dovecot');
        const skipped = m?.skipped ?? d?.skipped;
        if (skipped || !m || !d) return { metric: `${label} (skipped: ${skipped ?? 'no data'})`, mailnode: null, peer: null };
        return mbFirst
          ? {
              metric: `${label} MB/s (msgs/s)`,
              mailnode: m.mbPerSecond,
              peer: d.mbPerSecond,
              mailnodeDetail: `${m.msgsPerSecond}`,
              peerDetail: `${d.msgsPerSecond}`,
              aim: { text: '>= 1x', check: (r) => r >= 1 },
            }
          : {
              metric: `${label} msgs/s (MB/s)`,
              mailnode: m.msgsPerSecond,
              peer: d.msgsPerSecond,
              mailnodeDetail: `${m.mbPerSecond}`,
              peerDetail: `${d.mbPerSecond}`,
              aim: { text: '>= 1x', check: (r) => r >= 1 },
            };
      };
      rows.push(retrRow('fixedLockstep', `RETR ${sizes.fixedCount} x 4 KiB lock-step`, false));
      rows.push(retrRow('fixedPipelined', `RETR ${sizes.fixedCount} x 4 KiB pipelined w=${sizes.window}`, false));
      rows.push(retrRow('mixedLockstep', `RETR mixed ${sizes.mixedCount} msgs ${(totalBytes(mix) / 1e6).toFixed(1)} MB lock-step`, true));
      const cpuRow = (key: string, label: string): Row => ({
        metric: `server CPU per RETR, ${label}`,
        mailnode: med(key, 'mailnode')?.serverCpuUsPerMsg ?? null,
        peer: med(key, 'dovecot')?.serverCpuUsPerMsg ?? null,
        unit: 'us',
        digits: 0,
      });
      rows.push(cpuRow('fixedLockstep', '4 KiB lock-step'));
      rows.push(cpuRow('mixedLockstep', 'mixed'));
      const im = idle.mailnode!;
      const id = idle.dovecot!;
      rows.push({
        metric: `idle logged-in sessions held (of ${sizes.idleSessions})`,
        mailnode: im.aliveAfterHold,
        peer: id.aliveAfterHold,
        digits: 0,
        noRatio: true,
      });
      rows.push({
        metric: 'memory per idle session, PSS',
        mailnode: im.pssKbPerSession,
        peer: id.pssKbPerSession,
        unit: 'KiB',
        aim: { text: '<= 1/10', check: (r) => r <= 0.1 },
      });
      rows.push({
        metric: 'memory per idle session, RSS',
        mailnode: im.rssKbPerSession,
        peer: id.rssKbPerSession,
        unit: 'KiB',
        aim: { text: '<= 1/10', check: (r) => r <= 0.1 },
      });
      rows.push({
        // The same measurement, in the unit the reliability issue asks for.
        metric: 'RSS per 1 000 idle sessions',
        mailnode: Math.round((im.rssKbPerSession * 1000) / 1024),
        peer: Math.round((id.rssKbPerSession * 1000) / 1024),
        unit: 'MiB',
      });
      rows.push({
        metric: 'server tree PSS before -> peak',
        mailnode: Math.round(im.peak.pssKb / 1024),
        peer: Math.round(id.peak.pssKb / 1024),
        unit: 'MiB',
        mailnodeDetail: `from ${Math.round(im.before.pssKb / 1024)}, ${im.peak.processes} proc`,
        peerDetail: `from ${Math.round(id.before.pssKb / 1024)}, ${id.peak.processes} proc`,
        digits: 0,
        noRatio: true,
      });

      const maxClientShare = Math.max(
        ...Object.values(loginRuns).flatMap((byServer) => Object.values(byServer).flatMap((list) => list.map((r) => r.clientCpuShare))),
        ...Object.values(retr).flatMap((byServer) => Object.values(byServer).flatMap((list) => list.map((r) => r.clientCpuShare))),
      );
      const notes = [
        `Mail: fixed4k ${sizes.fixedCount} x 4096 B (${(totalBytes(fixed) / 1e6).toFixed(1)} MB on disk), mixed ${sizes.mixedCount} messages (${(totalBytes(mix) / 1e6).toFixed(1)} MB), seed 1; every RETR run verified against the generator's sha256 manifest.`,
        `Logins: median of ${sizes.loginReps} run(s) of ${sizes.loginSessions} sessions or ${sizes.loginSeconds} s each, whichever first; concurrent clients never share a mailbox (users u01..u${pad(Math.max(20, maxC), 2)}), because mailnode locks a mailbox per session.`,
        `RETR: median of ${sizes.retrReps} run(s) by msgs/s. Idle: ${sizes.idleSessions} sessions of distinct empty mailboxes, held ${sizes.idleHoldSeconds} s, per-session = (peak - before) / sessions of the server's process tree.`,
        `Load client: one Node process, async sockets; its CPU share peaked at ${Math.round(maxClientShare * 100)}% of one core.`,
      ];
      return {
        section: 'server',
        title: "POP3 server: mailnode vs Dovecot 2.3 (perf profile), plain POP3 on 127.0.0.1",
        peerName: 'Dovecot (perf)',
        rows,
        notes,
        details: { sizes, logins: loginRuns, retr, idle, mixedBytes: totalBytes(mix), fixedBytes: totalBytes(fixed) },
      };
    } finally {
      if (mailnode) await mailnode.stop();
      if (dovecot) await dovecot.stop();
      if (!ctx.keep) await rm(work, { recursive: true, force: true });
      else log(`kept ${work}`);
      unregisterDir();
    }
  },
};
