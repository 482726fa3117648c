/**
 * `npm run bench -- --only ldap`: POP3 logins/s through mailnode's own POP3 server with three
 * Directory backends, in one run against one private OpenLDAP slapd (test/harness/slapd.ts):
 *
 *   files       the users file ({PLAIN} passwords)
 *   LDAP cold   `directory: { type: ldap, cache: { positive_ttl: 0s, negative_ttl: 0s } }`:
 *               every login is a search (service account) + a bind as the user against slapd
 *   LDAP warm   the same with the default cache (positive 1m, negative 10s), after a warm-up
 *               pass: logins are answered from the account and bind caches
 *
 * Accounts u01..u32, password pw-uNN, in the users file and as inetOrgPerson entries under
 * ou=people with the same password as a plain userPassword (slapd compares it byte for byte, so
 * neither side pays for a slow hash and the comparison is about the Directory round trips).
 * Each user has 4 x 1 KiB messages, so STAT has work; every backend has its own copy of the
 * mail. The three mailnode processes run side by side (only one is driven at a time), each
 * measured like the `server` section: connect + USER/PASS + STAT + QUIT at C = 1, 8, 32,
 * concurrent clients never sharing a mailbox. The backends alternate in each repetition.
 * slapd's CPU is read from /proc around every measurement.
 */
import { readFileSync } from 'node:fs';
import { readFile, chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ldifEntry, PEOPLE_DN, SERVICE_DN, SERVICE_PASSWORD, userDn } from '../../test/harness/ldap-fixture.ts';
import { fillMaildir, fixedSize } from '../../test/harness/mail-generator.ts';
import { selfSignedCert } from '../../test/harness/pki.ts';
import { treeCpuSeconds } from '../../test/harness/proc-stats.ts';
import { slapdUnavailableReason, startSlapd, type Slapd } from '../../test/harness/slapd.ts';
import { onCleanup } from './cleanup.ts';
import { startMailnode, type MailnodeProcess } from './mailnode-process.ts';
import { measureLogins, Pop3Conn, type Account, type LoginResult, type Target } from './pop3-load.ts';
import type { BenchContext, Row, Section, SectionResult } from './report.ts';

interface Sizes {
  users: number;
  messagesPerUser: number;
  loginSessions: number;
  loginSeconds: number;
  concurrency: number[];
  loginReps: number;
  warmupSessions: number;
}

const FULL: Sizes = {
  users: 32,
  messagesPerUser: 4,
  loginSessions: 1000,
  loginSeconds: 8,
  concurrency: [1, 8, 32],
  loginReps: 5,
  warmupSessions: 1500,
};

const QUICK: Sizes = {
  users: 32,
  messagesPerUser: 4,
  loginSessions: 150,
  loginSeconds: 2,
  concurrency: [1, 8, 32],
  loginReps: 1,
  warmupSessions: 60,
};

type BackendKey = 'files' | 'ldapCold' | 'ldapWarm';

interface Backend {
  readonly key: BackendKey;
  readonly label: string;
  /** The `directory:` block; undefined for the users file. */
  readonly directoryYaml?: string;
  process?: MailnodeProcess;
  target?: Target;
}

/** One login measurement plus slapd's CPU during it. */
interface LdapLoginResult extends LoginResult {
  readonly slapdCpuSeconds: number;
  /** slapd CPU per successful session, ms. */
  readonly slapdCpuMsPerSession: number;
}

/** The 1-minute load average (other work on the machine shows here), or null off Linux. */
function loadAverage(): number | null {
  try {
    return Number(readFileSync('/proc/loadavg', 'latin1').split(' ')[0]);
  } catch {
    return null;
  }
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const account = (user: string): Account => ({ user, password: `pw-${user}` });
const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

function median<T>(items: readonly T[], key: (item: T) => number): T {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** The LDIF of the login users: inetOrgPerson under ou=people, plain userPassword. */
export function loginUsersLdif(users: readonly string[]): string {
  return users
    .map((name) =>
      ldifEntry(userDn(name), [
        ['objectClass', 'top'],
        ['objectClass', 'inetOrgPerson'],
        ['uid', name],
        ['cn', name],
        ['sn', name],
        ['mail', `${name}@example.org`],
        ['userPassword', `pw-${name}`],
      ]),
    )
    .join('');
}

function ldapDirectoryYaml(slapd: Slapd, secretFile: string, cold: boolean): string {
  const q = (s: string) => JSON.stringify(s);
  return `directory:
  type: ldap
  urls: [${q(slapd.url)}]
  bind_dn: ${q(SERVICE_DN)}
  bind_password_file: ${q(secretFile)}
  base_dn: ${q(PEOPLE_DN)}
${cold ? "  cache: { positive_ttl: '0s', negative_ttl: '0s' }\n" : ''}`;
}

/** Lines of mailnode's JSON log at warn level or above (pino: 40 warn, 50 error, 60 fatal), grouped by message. */
async function logProblems(logFile: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let text = '';
  try {
    text = await readFile(logFile, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const entry = JSON.parse(line) as { level?: number | string; msg?: string };
      const level = typeof entry.level === 'number' ? entry.level : { warn: 40, error: 50, fatal: 60 }[String(entry.level)] ?? 0;
      if (level >= 40) {
        const key = `${level >= 50 ? 'error' : 'warn'}: ${String(entry.msg ?? '').slice(0, 100)}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    } catch {
      // not a JSON line
    }
  }
  return counts;
}

export const ldapSection: Section = {
  name: 'ldap',
  description: 'POP3 logins/s through mailnode with the users file vs LDAP (OpenLDAP slapd), cache off and warm',
  async run(ctx: BenchContext): Promise<SectionResult> {
    const reason = slapdUnavailableReason();
    if (reason) throw new Error(`the ldap benchmark needs OpenLDAP: ${reason}`);
    const sizes = ctx.quick ? QUICK : FULL;
    const log = ctx.log;
    const work = await mkdtemp(join(tmpdir(), 'mailnode-bench-ldap-'));
    await chmod(work, 0o755);
    const unregisterDir = onCleanup(`remove ${work}`, () => (ctx.keep ? undefined : rm(work, { recursive: true, force: true })));
    let slapd: Slapd | undefined;
    let unregisterSlapd: (() => void) | undefined;
    const users = Array.from({ length: sizes.users }, (_, i) => `u${pad(i + 1, 2)}`);
    const messages = fixedSize(sizes.messagesPerUser, 1024, 3, 'tiny1k');
    const backends: Backend[] = [];
    const loadBefore = loadAverage();
    try {
      // ---- slapd ---------------------------------------------------------------------------------
      log(`starting slapd with ${users.length} users`);
      slapd = await startSlapd({ ldif: loginUsersLdif(users), dir: join(work, 'slapd') });
      const slapdHere = slapd;
      unregisterSlapd = onCleanup(`slapd pid ${slapd.pid}`, () => slapdHere.stop());
      const slapdPid = slapd.pid;
      log(`slapd pid ${slapdPid} on ${slapd.url}`);

      // ---- mailnode x 3 --------------------------------------------------------------------------
      const cert = await selfSignedCert(join(work, 'pki'));
      const secretFile = join(work, 'ldap.secret');
      await writeFile(secretFile, `${SERVICE_PASSWORD}\n`, { mode: 0o600 });
      backends.push(
        { key: 'files', label: 'users file' },
        { key: 'ldapCold', label: 'LDAP cold (TTL 0)', directoryYaml: ldapDirectoryYaml(slapd, secretFile, true) },
        { key: 'ldapWarm', label: 'LDAP warm (default TTL)', directoryYaml: ldapDirectoryYaml(slapd, secretFile, false) },
      );
      for (const backend of backends) {
        const dir = join(work, backend.key);
        const mailRoot = join(dir, 'mail');
        await mkdir(dir, { recursive: true });
        const usersFile = join(dir, 'users');
        await writeFile(usersFile, users.map((u) => `${u}:{PLAIN}pw-${u}\n`).join(''), { mode: 0o600 });
        for (const user of users) await fillMaildir(join(mailRoot, user, 'Maildir'), messages);
        backend.process = await startMailnode({
          repoRoot: ctx.repoRoot,
          dir,
          usersFile,
          mailRoot,
          certFile: cert.cert,
          keyFile: cert.key,
          nofile: ctx.nofile,
          directoryYaml: backend.directoryYaml,
          nodeFlags: ctx.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`] : [],
        });
        backend.target = { name: backend.key, host: '127.0.0.1', port: backend.process.port, pid: backend.process.pid };
        log(`mailnode ${backend.label}: pid ${backend.process.pid} port ${backend.process.port}`);
      }

      const measure = async (backend: Backend, C: number, maxSessions: number, maxSeconds: number): Promise<LdapLoginResult> => {
        const slapd0 = treeCpuSeconds(slapdPid);
        const result = await measureLogins(backend.target!, { concurrency: C, maxSessions, maxSeconds, accounts: users.map(account) });
        const slapdCpu = treeCpuSeconds(slapdPid) - slapd0;
        return {
          ...result,
          slapdCpuSeconds: round(slapdCpu, 3),
          slapdCpuMsPerSession: result.ok ? round((slapdCpu * 1000) / result.ok, 3) : Number.NaN,
        };
      };

      // ---- warm-up: every mailbox once (new/ -> cur/), JIT, LDAP pool connections, the warm cache
      log('warm-up');
      for (const backend of backends) {
        for (const user of users) {
          const conn = await Pop3Conn.open('127.0.0.1', backend.target!.port);
          await conn.login(account(user));
          await conn.ok('STAT');
          await conn.ok('QUIT');
          conn.destroy();
        }
        const warm = await measure(backend, 8, sizes.warmupSessions, 10);
        if (warm.errors) log(`warm-up ${backend.label}: ${warm.errors} errors ${JSON.stringify(warm.errorKinds)}`);
      }

      // ---- logins -------------------------------------------------------------------------------
      const runs: Record<number, Record<BackendKey, LdapLoginResult[]>> = {};
      for (const C of sizes.concurrency) {
        runs[C] = { files: [], ldapCold: [], ldapWarm: [] };
        for (let rep = 0; rep < sizes.loginReps; rep++) {
          // Rotate the order, so no backend always runs first (or right after another's garbage).
          const order = backends.map((_, i) => backends[(i + rep) % backends.length]!);
          for (const backend of order) {
            const result = await measure(backend, C, sizes.loginSessions, sizes.loginSeconds);
            runs[C]![backend.key].push(result);
            log(
              `login C=${C} ${backend.label}: ${result.sessionsPerSecond}/s p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms, errors ${result.errors}${result.errors ? ` ${JSON.stringify(result.errorKinds)}` : ''}, mailnode ${result.serverCpuMsPerSession} ms CPU/login, slapd ${result.slapdCpuMsPerSession} ms CPU/login, client CPU ${Math.round(result.clientCpuShare * 100)}%`,
            );
            await sleep(300);
          }
        }
      }
      const med: Record<number, Record<BackendKey, LdapLoginResult>> = {};
      for (const C of sizes.concurrency) {
        const byBackend = runs[C]!;
        med[C] = {
          files: median(byBackend.files, (r) => r.sessionsPerSecond),
          ldapCold: median(byBackend.ldapCold, (r) => r.sessionsPerSecond),
          ldapWarm: median(byBackend.ldapWarm, (r) => r.sessionsPerSecond),
        };
      }

      const loadAfter = loadAverage();

      // ---- stop, collect warnings ---------------------------------------------------------------
      const problems: Record<string, Record<string, number>> = {};
      for (const backend of backends) {
        await backend.process!.stop();
        problems[backend.key] = await logProblems(backend.process!.logFile);
        backend.process = undefined;
      }
      await slapd.stop();
      unregisterSlapd();
      slapd = undefined;

      // ---- table --------------------------------------------------------------------------------
      const detail = (r: LdapLoginResult) => `${r.p50Ms}/${r.p99Ms}${r.errors ? `, ${r.errors} errors` : ''}`;
      const rows: Row[] = [];
      for (const C of sizes.concurrency) {
        const m = med[C]!;
        for (const key of ['ldapCold', 'ldapWarm'] as const) {
          rows.push({
            metric: `logins/s C=${C}, ${key === 'ldapCold' ? 'LDAP cold' : 'LDAP warm'} (p50/p99 ms)`,
            mailnode: m[key].sessionsPerSecond,
            peer: m.files.sessionsPerSecond,
            mailnodeDetail: detail(m[key]),
            peerDetail: detail(m.files),
          });
        }
      }
      const cTop = sizes.concurrency[sizes.concurrency.length - 1]!;
      const top = med[cTop]!;
      for (const key of ['ldapCold', 'ldapWarm'] as const) {
        rows.push({
          metric: `mailnode CPU per login C=${cTop}, ${key === 'ldapCold' ? 'LDAP cold' : 'LDAP warm'}`,
          mailnode: top[key].serverCpuMsPerSession,
          peer: top.files.serverCpuMsPerSession,
          unit: 'ms',
          digits: 2,
        });
      }
      for (const key of ['ldapCold', 'ldapWarm'] as const) {
        rows.push({
          metric: `slapd CPU per login C=${cTop}, ${key === 'ldapCold' ? 'LDAP cold' : 'LDAP warm'}`,
          mailnode: top[key].slapdCpuMsPerSession,
          peer: top.files.slapdCpuMsPerSession,
          unit: 'ms',
          digits: 3,
          noRatio: true,
        });
      }

      // Paired ratios: each repetition ran the three backends back to back, so LDAP / file within one
      // repetition is less exposed to drift (other work on the machine) than a ratio of medians.
      const paired = sizes.concurrency.map((C) => {
        const byBackend = runs[C]!;
        const ratios = (key: 'ldapCold' | 'ldapWarm') =>
          byBackend.files.map((f, i) => byBackend[key][i]!.sessionsPerSecond / f.sessionsPerSecond).sort((a, b) => a - b);
        const mid = (list: number[]) => list[Math.floor((list.length - 1) / 2)]!;
        const cold = ratios('ldapCold');
        const warm = ratios('ldapWarm');
        return { C, cold: round(mid(cold), 2), warm: round(mid(warm), 2), coldRange: [round(cold[0]!, 2), round(cold[cold.length - 1]!, 2)], warmRange: [round(warm[0]!, 2), round(warm[warm.length - 1]!, 2)] };
      });
      const allRuns = Object.values(runs).flatMap((byBackend) => Object.values(byBackend).flat());
      const totalErrors = allRuns.reduce((sum, r) => sum + r.errors, 0);
      const errorKinds: Record<string, number> = {};
      for (const r of allRuns) for (const [kind, n] of Object.entries(r.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
      const maxClientShare = Math.max(...allRuns.map((r) => r.clientCpuShare));
      const problemText = backends
        .map((b) => {
          const entries = Object.entries(problems[b.key] ?? {});
          return entries.length ? `${b.label}: ${entries.map(([msg, n]) => `${n} x "${msg}"`).join('; ')}` : '';
        })
        .filter(Boolean);
      const notes = [
        'No aims: the issue asks to record these numbers. The "LDAP" column is the LDAP backend named in the metric, the reference column the users file; the ratio is LDAP / users file.',
        `Users u01..u${pad(sizes.users, 2)} (password pw-uNN): users file with {PLAIN}, LDAP inetOrgPerson entries with a plain-text userPassword, so neither mailnode nor slapd pays for a slow hash; ${sizes.messagesPerUser} x 1 KiB messages each (STAT), every backend its own copy of the mail.`,
        `LDAP: one OpenLDAP slapd (mdb, uid indexed, loglevel none) on 127.0.0.1, default auth: bind, pool_size 4 (4 search + 4 bind connections). Cold = cache positive_ttl/negative_ttl 0s: every login is a search as the service account plus a bind as the user. Warm = default cache (1m / 10s) after a warm-up pass: logins are answered from the account and bind caches (an entry is searched again once per minute).`,
        `Logins: connect + greeting + USER/PASS + STAT + QUIT; median of ${sizes.loginReps} run(s) of ${sizes.loginSessions} sessions or ${sizes.loginSeconds} s each; the three backends alternate. Concurrent clients never share a mailbox. slapd CPU = slapd's /proc CPU time during the run / logins.`,
        `Paired ratios (median over repetitions of LDAP / file within the same repetition, min-max in brackets): ${paired
          .map((p) => `C=${p.C} cold ${p.cold}x [${p.coldRange.join('-')}], warm ${p.warm}x [${p.warmRange.join('-')}]`)
          .join('; ')}.`,
        `Errors in all timed runs: ${totalErrors}${totalErrors ? ` (${JSON.stringify(errorKinds)})` : ''}. mailnode warnings/errors logged: ${problemText.length ? problemText.join(' | ') : 'none'}.`,
        `Load client: one Node process, async sockets; its CPU share peaked at ${Math.round(maxClientShare * 100)}% of one core. 1-minute load average ${loadBefore ?? 'n/a'} before, ${loadAfter ?? 'n/a'} after the timed runs (above the CPU count: other work shared the cores).`,
      ];
      return {
        section: 'ldap',
        title: 'LDAP Directory: POP3 logins/s through mailnode, users file vs LDAP (cold / warm cache), on 127.0.0.1 (record)',
        peerName: 'users file',
        subjectName: 'LDAP',
        rows,
        notes,
        details: { sizes, runs, paired, problems, loadBefore, loadAfter },
      };
    } finally {
      for (const backend of backends) if (backend.process) await backend.process.stop();
      if (slapd) {
        await slapd.stop();
        unregisterSlapd?.();
      }
      if (!ctx.keep) await rm(work, { recursive: true, force: true });
      else log(`kept ${work}`);
      unregisterDir();
    }
  },
};
