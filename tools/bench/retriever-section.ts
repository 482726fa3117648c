/**
 * `npm run bench -- --only retriever`: mailnode's retriever (`node apps/mailnode fetch --once`)
 * against mpop and getmail6, each downloading the same generated mailbox from one private Dovecot
 * (default profile) into a local Maildir, over plain POP3 and implicit TLS, with keep and delete.
 *
 * Every run: Dovecot's mailbox is refilled (and warmed with one STAT, so Dovecot's index build is
 * not timed) and settled on disk (see settle()), the tool gets a new directory (destination
 * Maildir, UIDL memory; kept until the end and spread over block groups, see fresh-inodes.ts),
 * the tool runs under /usr/bin/time (wall clock from here; user+sys CPU and peak RSS of the
 * retriever from GNU time), then the destination is verified against the generator's manifest (count + body sha256 + the
 * original header block) and the server's remaining count is checked (N after keep, 0 after delete).
 *
 * Runs (one each; ratios from one run are what count on a shared machine), on each destination
 * file system: a journaled ext4 made for the bench (journaled-fs.ts; when root) and the file
 * system of the temp dir:
 *   fixed4k 2 000 x 4 KiB: {mailnode, mpop, getmail6} x {plain, TLS} x {keep, delete}
 *   mixed 300 messages (~49 MB): {mailnode, mpop}, plain, keep
 * getmail6 refuses to deliver as root: as root it runs as the system user `mailnode-peer`
 * (setpriv, which execs, so GNU time's child is getmail itself), its files owned by that user.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dovecotUnavailableReason, startDovecot, type DovecotInstance } from '../../test/harness/dovecot.ts';
import { fixed4k, makeMaildir, manifest, mixed, totalBytes, verifyMaildir, type GeneratedMessage, type ManifestEntry } from '../../test/harness/mail-generator.ts';
import { isAlive } from '../../test/harness/proc-stats.ts';
import { ensureSystemUser, isRoot, PEER_USER } from '../../test/harness/system-user.ts';
import { onCleanup } from './cleanup.ts';
import { freshRunDirectory, spreadSubdirectories } from './fresh-inodes.ts';
import { journaledFsUnavailableReason, mountJournaledExt4 } from './journaled-fs.ts';
import { Pop3Conn } from './pop3-load.ts';
import type { BenchContext, Row, Section, SectionResult } from './report.ts';

type Tool = 'mailnode' | 'mpop' | 'getmail6';
type Mode = 'plain' | 'tls';
type Action = 'keep' | 'delete';

/** Where the runs write: a file system, and a directory on it for the runs' directories. */
interface Destination {
  /** Short name for labels and table rows. */
  readonly name: string;
  readonly describe: string;
  readonly runsRoot: string;
  /** How runs' directories are placed (fresh-inodes.ts). */
  placement: string;
}

interface Sizes {
  fixedCount: number;
  mixedCount: number;
  /** Per-run limits: getmail6 needs ~30 s for 2 000 messages, mpop ~2 s; the mixed set takes mpop < 1 s. */
  fixedTimeoutSeconds: number;
  mixedTimeoutSeconds: number;
}

const FULL: Sizes = { fixedCount: 2000, mixedCount: 300, fixedTimeoutSeconds: 60, mixedTimeoutSeconds: 30 };
const QUICK: Sizes = { fixedCount: 200, mixedCount: 30, fixedTimeoutSeconds: 30, mixedTimeoutSeconds: 15 };

const DURABILITY: Record<Tool, string> = {
  mailnode: 'files synced (syncfs per wave) + dir fsync before DELE',
  mpop: 'file fsync only',
  getmail6: 'file fsync only',
};

interface RunResult {
  tool: Tool;
  fs: string;
  set: 'fixed4k' | 'mixed';
  mode: Mode;
  action: Action;
  messages: number;
  bytes: number;
  seconds: number;
  msgsPerSecond: number;
  mbPerSecond: number;
  cpuSeconds: number | null;
  peakRssMb: number | null;
  exitCode: number | null;
  timedOut: boolean;
  verify: string;
  verified: boolean;
  serverLeft: number | null;
  outputTail: string;
}

const round = (value: number, digits: number) => Math.round(value * 10 ** digits) / 10 ** digits;

export const retrieverSection: Section = {
  name: 'retriever',
  description: "mailnode's retriever (fetch --once) vs mpop and getmail6 from Dovecot into a Maildir: msgs/s, MB/s, peak RSS, verified copies",
  async run(ctx: BenchContext): Promise<SectionResult> {
    const reason = dovecotUnavailableReason();
    if (reason) throw new Error(`the retriever benchmark needs Dovecot: ${reason}`);
    for (const tool of ['mpop', 'getmail', '/usr/bin/time']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`], { timeout: 5000 }).status !== 0) throw new Error(`the retriever benchmark needs ${tool}`);
    }
    const sizes = ctx.quick ? QUICK : FULL;
    const log = ctx.log;
    const work = await mkdtemp(join(tmpdir(), 'mailnode-bench-retr-'));
    await chmod(work, 0o755);
    const unregisterDir = onCleanup(`remove ${work}`, () => (ctx.keep ? undefined : rm(work, { recursive: true, force: true })));
    // getmail6 will not deliver as root: it runs as the peer system user (ourselves when not root).
    const peer = ensureSystemUser(PEER_USER);
    const asPeer = isRoot() ? ['setpriv', `--reuid=${peer.uid}`, `--regid=${peer.gid}`, '--init-groups'] : [];
    let dovecot: DovecotInstance | undefined;
    let unregisterDovecot = () => {};
    const unmounts: (() => Promise<void>)[] = [];
    try {
      log(`generating mail: fixed4k x ${sizes.fixedCount}, mixed x ${sizes.mixedCount}`);
      const fixed = fixed4k(sizes.fixedCount, 1);
      const mix = mixed(sizes.mixedCount, 1);
      const sets: Record<'fixed4k' | 'mixed', { user: string; messages: GeneratedMessage[]; manifest: ManifestEntry[] }> = {
        fixed4k: { user: 'bench', messages: fixed, manifest: manifest(fixed) },
        mixed: { user: 'benchmix', messages: mix, manifest: manifest(mix) },
      };

      log('starting Dovecot (default profile)');
      dovecot = await startDovecot({ profile: 'default', users: ['bench', 'benchmix'].map((u) => ({ name: u, password: `pw-${u}` })), dir: join(work, 'dovecot'), nofile: ctx.nofile });
      const dv = dovecot;
      unregisterDovecot = onCleanup(`dovecot pid ${dv.pid}`, () => dv.stop());
      log(`Dovecot pid ${dv.pid}, plain ${dv.plainPort}, TLS ${dv.tlsPort}`);

      const serverCount = async (user: string): Promise<number> => {
        const conn = await Pop3Conn.open('127.0.0.1', dv.plainPort);
        try {
          await conn.login({ user, password: `pw-${user}` });
          const reply = await conn.ok('STAT');
          await conn.ok('QUIT');
          return Number(/^\+OK (\d+)/.exec(reply)?.[1] ?? NaN);
        } finally {
          conn.destroy();
        }
      };

      /**
       * A remote server's mailbox is not on our file system; here it is, so the refill is made
       * quiet before the clock starts: each message file is read once (relatime stamps the
       * atime of a file's first read after it was written: the timed run's reads would dirty
       * 2 000 inodes) and then everything is written back (sync). Otherwise the first tool to
       * sync the whole file system (mailnode's syncfs) would write back the refill, and a tool
       * that fsyncs single files never would.
       */
      const settle = async (user: string): Promise<void> => {
        const maildir = dv.maildirOf(user);
        for (const sub of ['cur', 'new']) for (const name of await readdir(join(maildir, sub))) await readFile(join(maildir, sub, name));
        if (spawnSync('sync', [], { timeout: 60_000 }).status !== 0) throw new Error('sync before a timed run failed');
      };

      const destinations: Destination[] = [];
      let noJournaledFs = journaledFsUnavailableReason();
      if (!noJournaledFs) {
        try {
          const journaled = await mountJournaledExt4(work);
          unmounts.push(() => journaled.unmount());
          destinations.push({ name: 'ext4+journal', describe: journaled.describe, runsRoot: join(journaled.dir, 'runs'), placement: '' });
        } catch (error) {
          // A container without loop devices, say: measure where we can.
          noJournaledFs = (error as Error).message;
        }
      }
      if (noJournaledFs) log(`destinations on the temp dir's file system only; no journaled ext4: ${noJournaledFs}`);
      destinations.push({ name: 'root fs', describe: describeFilesystem(work), runsRoot: join(work, 'runs'), placement: '' });
      for (const destination of destinations) {
        await mkdir(destination.runsRoot, { mode: 0o755 });
        destination.placement = spreadSubdirectories(destination.runsRoot);
        log(`${destination.name}: ${destination.describe}; ${destination.placement}`);
      }
      const placements: string[] = [];

      const results: RunResult[] = [];
      const runOne = async (destination: Destination, tool: Tool, setName: 'fixed4k' | 'mixed', mode: Mode, action: Action): Promise<RunResult> => {
        const set = sets[setName];
        const label = `${tool}-${setName}-${mode}-${action}`;
        const { dir, createMicros, skipped } = freshRunDirectory(destination.runsRoot, label);
        placements.push(`${destination.name} ${label} ${createMicros.toFixed(0)} us${skipped ? ` (${skipped} slow skipped)` : ''}`);
        await dv.refill(set.user, set.messages);
        const before = await serverCount(set.user); // warms Dovecot's index
        if (before !== set.messages.length) throw new Error(`refill of ${set.user}: server has ${before} messages, expected ${set.messages.length}`);
        await settle(set.user);
        const port = mode === 'tls' ? dv.tlsPort : dv.plainPort;
        const password = `pw-${set.user}`;
        let command: string[];
        let target: string;
        if (tool === 'mailnode') {
          const passwordFile = join(dir, 'password');
          await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
          const usersFile = join(dir, 'users');
          await writeFile(usersFile, `${set.user}:{PLAIN}${password}\n`, { mode: 0o600 });
          const q = (s: string) => JSON.stringify(s);
          const configFile = join(dir, 'mailnode.yaml');
          await writeFile(
            configFile,
            `# generated by tools/bench/retriever-section.ts
state_dir: ${q(join(dir, 'state'))}
hostname: localhost
logging:
  level: warn
  file: ${q(join(dir, 'mailnode.log'))}
tls:
  cert: ${q(dv.certFile)}
  key: ${q(dv.keyFile)}
  self_signed: N
directory:
  type: files
  users: ${q(usersFile)}
  aliases: ${q(join(dir, 'aliases'))}
  domains: ${q(join(dir, 'domains'))}
message_store:
  root: ${q(join(dir, 'mail'))}
pop3download:
  delay_start: 0s
  uidl_dir: ${q(join(dir, 'state', 'retriever'))}
  clients:
    - id: bench
      recip: ${set.user}
      freq: 0
      preserve: ${action === 'keep' ? 'Y' : 'N'}
      omitreceivedheader: Y
      server:
        address: 127.0.0.1:${port}
        username: ${set.user}
        password_file: ${q(passwordFile)}
        authtypes: USERPASS
${mode === 'tls' ? `      ssl:\n        latent: N\n        ca: ${q(dv.caFile)}\n        servername: localhost\n` : ''}`,
            { mode: 0o600 },
          );
          const prof = ctx.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`, `--cpu-prof-name=retriever-${label}.cpuprofile`] : [];
          command = [process.execPath, ...prof, join(ctx.repoRoot, 'apps/mailnode'), 'fetch', '--once', '--config', configFile];
          target = join(dir, 'mail');
        } else if (tool === 'mpop') {
          target = join(dir, 'Maildir');
          await makeMaildir(target);
          const rc = join(dir, 'mpoprc');
          await writeFile(
            rc,
            [
              'defaults',
              ...(mode === 'tls' ? ['tls on', 'tls_starttls off', `tls_trust_file ${dv.caFile}`] : ['tls off']),
              'account bench',
              'host 127.0.0.1',
              `port ${port}`,
              `user ${set.user}`,
              `password ${password}`,
              'auth user',
              `delivery maildir ${target}`,
              `uidls_file ${join(dir, 'mpop-uidls')}`,
              'only_new off',
              'received_header off',
              `keep ${action === 'keep' ? 'on' : 'off'}`,
              '',
            ].join('\n'),
            { mode: 0o600 },
          );
          command = ['mpop', '-q', '-C', rc, 'bench'];
        } else {
          target = join(dir, 'Maildir');
          await makeMaildir(target);
          const rc = join(dir, 'getmailrc');
          await writeFile(
            rc,
            [
              '[retriever]',
              ...(mode === 'tls' ? ['type = SimplePOP3SSLRetriever', `ca_certs = ${dv.caFile}`, 'ssl_cert_hostname = localhost'] : ['type = SimplePOP3Retriever']),
              'server = 127.0.0.1',
              `port = ${port}`,
              `username = ${set.user}`,
              `password = ${password}`,
              '[destination]',
              'type = Maildir',
              `path = ${target}/`,
              '[options]',
              'verbose = 0',
              'read_all = true',
              `delete = ${action === 'delete' ? 'true' : 'false'}`,
              'message_log_syslog = false',
              '',
            ].join('\n'),
            { mode: 0o600 },
          );
          if (isRoot()) for (const path of [dir, rc, target, ...['tmp', 'new', 'cur'].map((sub) => join(target, sub))]) await chown(path, peer.uid, peer.gid);
          command = [...asPeer, 'env', `HOME=${dir}`, 'getmail', `--rcfile=${rc}`, `--getmaildir=${dir}`, '-q'];
        }

        const timeoutSeconds = setName === 'mixed' ? sizes.mixedTimeoutSeconds : sizes.fixedTimeoutSeconds;
        const timeFile = join(dir, 'time.txt');
        const outFile = join(dir, 'out.txt');
        const { code, timedOut, seconds } = await timed(['/usr/bin/time', '-o', timeFile, '-f', '%U %S %M', ...command], outFile, timeoutSeconds, ctx.repoRoot);
        const timeText = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n').pop() ?? '';
        const [user, sys, maxRss] = timeText.split(' ').map(Number);
        const output = await readFile(outFile, 'utf8').catch(() => '');
        const maildir = tool === 'mailnode' ? await findMaildir(target) : target;
        let verify: string;
        let verified = false;
        if (!maildir) verify = 'no Maildir written';
        else {
          const v = await verifyMaildir(maildir, set.manifest);
          verified = v.ok;
          verify = v.ok
            ? `OK ${v.found}/${set.messages.length}`
            : `FAIL ${v.found}/${set.messages.length}, ${v.missing.length} missing, ${v.extra.length} extra, ${v.mismatched.length} differ${v.mismatched[0] ? ` (${v.mismatched[0].reason})` : ''}`;
        }
        const serverLeft = await serverCount(set.user).catch(() => null);
        const expectedLeft = action === 'keep' ? set.messages.length : 0;
        if (serverLeft !== expectedLeft) {
          verified = false;
          verify += `; server has ${serverLeft} left, expected ${expectedLeft}`;
        }
        if (code !== 0 || timedOut) {
          verified = false;
          verify += timedOut ? `; killed after ${timeoutSeconds} s` : `; exit ${code}`;
        }
        const bytes = totalBytes(set.messages);
        const result: RunResult = {
          tool,
          fs: destination.name,
          set: setName,
          mode,
          action,
          messages: set.messages.length,
          bytes,
          seconds: round(seconds, 3),
          msgsPerSecond: round(set.messages.length / seconds, 1),
          mbPerSecond: round(bytes / 1e6 / seconds, 2),
          cpuSeconds: Number.isFinite(user) && Number.isFinite(sys) ? round(user! + sys!, 2) : null,
          peakRssMb: Number.isFinite(maxRss) ? round(maxRss! / 1024, 1) : null,
          exitCode: code,
          timedOut,
          verify,
          verified,
          serverLeft,
          outputTail: output.trim().split('\n').slice(-5).join('\n'),
        };
        log(`${destination.name} ${label}: ${result.seconds} s, ${result.msgsPerSecond} msgs/s, ${result.mbPerSecond} MB/s, CPU ${result.cpuSeconds} s, RSS ${result.peakRssMb} MB, ${verify}`);
        if (!verified && result.outputTail) log(`${destination.name} ${label} output: ${result.outputTail}`);
        return result;
      };

      const tools: Tool[] = ['mailnode', 'mpop', 'getmail6'];
      for (const destination of destinations) {
        for (const mode of ['plain', 'tls'] as const) {
          for (const action of ['keep', 'delete'] as const) {
            for (const tool of tools) results.push(await runOne(destination, tool, 'fixed4k', mode, action));
          }
        }
        for (const tool of ['mailnode', 'mpop'] as const) results.push(await runOne(destination, tool, 'mixed', 'plain', 'keep'));
      }

      await dv.stop();
      unregisterDovecot();
      dovecot = undefined;

      // ---- table --------------------------------------------------------------------------------
      const find = (fs: string, tool: Tool, set: string, mode: Mode, action: Action) =>
        results.find((r) => r.fs === fs && r.tool === tool && r.set === set && r.mode === mode && r.action === action);
      const detail = (r: RunResult | undefined) =>
        r ? `${r.verified ? '' : `${r.msgsPerSecond} msgs/s, `}${r.seconds.toFixed(2)} s, ${r.mbPerSecond.toFixed(2)} MB/s, ${r.peakRssMb ?? '?'} MB RSS, ${r.cpuSeconds ?? '?'} s CPU, ${r.verified ? 'verified' : r.verify}` : 'not run';
      // A failed run (verification, server count, exit status or timeout) has no value: no ratio, the failure is in the cell.
      const value = (r: RunResult | undefined) => (r?.verified ? r.msgsPerSecond : null);
      const rows: Row[] = [];
      for (const { name: fs } of destinations) {
        for (const peerTool of ['mpop', 'getmail6'] as const) {
          for (const mode of ['plain', 'tls'] as const) {
            for (const action of ['keep', 'delete'] as const) {
              const m = find(fs, 'mailnode', 'fixed4k', mode, action);
              const p = find(fs, peerTool, 'fixed4k', mode, action);
              const isAim = peerTool === 'mpop' && mode === 'plain' && action === 'delete';
              rows.push({
                metric: `${fs}: vs ${peerTool}: ${sizes.fixedCount} x 4 KiB ${mode} ${action}, msgs/s`,
                mailnode: value(m),
                peer: value(p),
                mailnodeDetail: detail(m),
                peerDetail: `${peerTool}: ${detail(p)}`,
                digits: 0,
                ...(isAim ? { aim: { text: '>= 1.5x mpop', check: (r: number) => r >= 1.5 } } : {}),
              });
            }
          }
        }
        const m = find(fs, 'mailnode', 'mixed', 'plain', 'keep');
        const p = find(fs, 'mpop', 'mixed', 'plain', 'keep');
        rows.push({
          metric: `${fs}: vs mpop: mixed ${sizes.mixedCount} msgs ${(totalBytes(mix) / 1e6).toFixed(1)} MB plain keep, MB/s`,
          mailnode: m?.verified ? m.mbPerSecond : null,
          peer: p?.verified ? p.mbPerSecond : null,
          mailnodeDetail: m ? `${m.msgsPerSecond} msgs/s, ${m.seconds.toFixed(2)} s, ${m.peakRssMb} MB RSS, ${m.verified ? 'verified' : m.verify}` : 'not run',
          peerDetail: p ? `mpop: ${p.msgsPerSecond} msgs/s, ${p.seconds.toFixed(2)} s, ${p.peakRssMb} MB RSS, ${p.verified ? 'verified' : p.verify}` : 'not run',
          digits: 1,
        });
      }
      const failed = results.filter((r) => !r.verified);
      const perRun = results.map(
        (r) =>
          `${r.fs.padEnd(12)} ${r.tool.padEnd(8)} ${r.set.padEnd(7)} ${r.mode.padEnd(5)} ${r.action.padEnd(6)} ${r.seconds.toFixed(2).padStart(7)} s ${r.msgsPerSecond.toFixed(0).padStart(6)} msgs/s ${r.mbPerSecond.toFixed(2).padStart(6)} MB/s  RSS ${String(r.peakRssMb).padStart(5)} MB  CPU ${String(r.cpuSeconds).padStart(5)} s  ${DURABILITY[r.tool].padEnd(34)} ${r.verify}`,
      );
      const notes = [
        `One run per line (no medians); Dovecot ${'default'} profile on 127.0.0.1; mail: fixed4k ${sizes.fixedCount} x 4096 B (${(totalBytes(fixed) / 1e6).toFixed(1)} MB), mixed ${sizes.mixedCount} (${(totalBytes(mix) / 1e6).toFixed(1)} MB), seed 1.`,
        ...destinations.map((d) => `Destination ${d.name}: ${d.describe}; ${d.placement}.`),
        ...(noJournaledFs ? [`No journaled ext4 destination: ${noJournaledFs}.`] : []),
        `File creation per run, probed before it: ${placements.join(', ')}.`,
        'Seconds = wall clock of the whole retriever process, start-up included; CPU = user+sys and RSS = peak resident set of the retriever, both from GNU time.',
        `Durability: mailnode ${DURABILITY.mailnode}; mpop ${DURABILITY.mpop}; getmail6 ${DURABILITY.getmail6}.`,
        `Every destination verified with verifyMaildir (count, body sha256, original header block) and the server's remaining count checked: ${failed.length ? `${failed.length} FAILED (${failed.map((r) => `${r.tool} ${r.set} ${r.mode} ${r.action}: ${r.verify}`).join('; ')})` : 'all OK'}.`,
        `getmail6 ran as ${isRoot() ? `system user ${PEER_USER} (setpriv)` : 'the current user'}; mpop and mailnode as the current user.`,
        `Per run:\n\n    ${perRun.join('\n    ')}`,
      ];
      return {
        section: 'retriever',
        title: 'POP3 retriever: mailnode fetch --once vs mpop / getmail6, Dovecot 2.3 (default profile) -> Maildir, 127.0.0.1',
        peerName: 'peer',
        rows,
        notes,
        details: { sizes, destinations: destinations.map(({ name, describe }) => ({ name, describe })), results, durability: DURABILITY },
      };
    } finally {
      if (dovecot) await dovecot.stop();
      unregisterDovecot();
      // Before the temp dir goes: the journaled ext4 is mounted inside it.
      for (const unmount of unmounts) await unmount();
      if (!ctx.keep) await rm(work, { recursive: true, force: true });
      else log(`kept ${work}`);
      unregisterDir();
    }
  },
};

/** Runs `argv` in its own process group, stdout+stderr to `outFile`; kills the group (by its PID) on timeout or cleanup. */
async function timed(argv: string[], outFile: string, timeoutSeconds: number, cwd: string): Promise<{ code: number | null; timedOut: boolean; seconds: number }> {
  const fd = openSync(outFile, 'w');
  const t0 = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { cwd, stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, NODE_OPTIONS: '' } });
  closeSync(fd);
  const pid = child.pid!;
  let exited = false;
  const done = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  child.once('error', () => undefined);
  const killGroup = () => {
    if (exited && !isAlive(pid)) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const unregister = onCleanup(`retriever pid ${pid}`, killGroup);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutSeconds * 1000);
  const code = await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  clearTimeout(timer);
  unregister();
  return { code, timedOut, seconds };
}

/** The Maildir (a directory with new/ and cur/) under `root`, searched a few levels deep. */
async function findMaildir(root: string, depth = 4): Promise<string | null> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const names = new Set(entries.filter((e) => e.isDirectory()).map((e) => e.name));
  if (names.has('new') && names.has('cur')) return root;
  if (depth === 0) return null;
  for (const name of names) {
    const found = await findMaildir(join(root, name), depth - 1);
    if (found) return found;
  }
  return null;
}

/** "ext4 (rw,relatime,...), without a journal" for the file system holding `dir`. */
function describeFilesystem(dir: string): string {
  const found = spawnSync('findmnt', ['-n', '-o', 'SOURCE,FSTYPE,OPTIONS', '-T', dir], { encoding: 'utf8', timeout: 5000 });
  if (found.status !== 0) return "the temp dir's file system";
  const [source = '', type = '', options = ''] = found.stdout.trim().split(/\s+/);
  let journal = '';
  if (type === 'ext4') {
    // ext4 lists its journal thread per device; "<none>" when it runs without one.
    try {
      const task = readFileSync(`/sys/fs/ext4/${source.replace(/^\/dev\//, '')}/journal_task`, 'utf8').trim();
      journal = task === '<none>' ? ', without a journal' : ', with a journal';
    } catch {
      // No sysfs entry: say nothing about the journal.
    }
  }
  return `the temp dir's file system: ${source} ${type} (${options})${journal}`;
}
