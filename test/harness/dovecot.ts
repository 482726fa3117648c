/**
 * A private Dovecot 2.3 POP3 server for tests and benchmarks: its own config, base_dir,
 * state_dir, log, passwd-file and self-signed certificate under one (temp) directory,
 * listening on 127.0.0.1 only, on free ports.
 *
 *   const dovecot = await startDovecot({ users: [{ name: 'alice', password: 'pw-alice' }] });
 *   await dovecot.fill('alice', fixed4k(20));
 *   ... POP3 on 127.0.0.1:dovecot.plainPort (STLS offered) and dovecot.tlsPort (implicit TLS) ...
 *   await dovecot.stop();
 *
 * Dovecot will not serve mail as root: as root, the Maildirs belong to the system user
 * `mailnode-peer` (created on first use), whose uid/gid the passwd-file names. Passwords are
 * stored {PLAIN}, so APOP and CRAM-MD5 work. With `clientCa`, clients may present a
 * certificate signed by that CA and log in with SASL EXTERNAL as the certificate's CN.
 *
 * `dovecot -c CONF` daemonizes; the master PID comes from base_dir/master.pid and stop()
 * sends SIGTERM to that PID only after checking /proc/PID/cmdline names our config file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { fillMaildir, makeMaildir, refillMaildir, type GeneratedMessage, type Owner } from './mail-generator.ts';
import { selfSignedCert } from './pki.ts';
import { commandLine, isAlive, processTree } from './proc-stats.ts';
import { ensureSystemUser, isRoot, PEER_USER } from './system-user.ts';

export type DovecotProfile = 'default' | 'perf';

export interface DovecotUser {
  readonly name: string;
  readonly password: string;
}

export interface DovecotOptions {
  /**
   * default: Dovecot's stock process model (one pop3-login process per connection).
   * perf: the high-performance login mode of ../shared/peers/dovecot-up.sh perf
   * (service_count=0, 2 long-lived login processes with client_limit 1100, pop3 process_limit 2100).
   */
  readonly profile?: DovecotProfile;
  readonly users: readonly DovecotUser[];
  /** Where everything goes; a new temp dir (removed by stop()) when absent. */
  readonly dir?: string;
  /** CA (PEM file) for client certificates: enables ssl_verify_client_cert and SASL EXTERNAL. */
  readonly clientCa?: string;
  /** auth_verbose + auth_debug + verbose_ssl in the log. */
  readonly verbose?: boolean;
  /** RLIMIT_NOFILE for Dovecot (capped at the hard limit). Default 20000. */
  readonly nofile?: number;
  /** Give up on startup after this long. Default 20 s. */
  readonly startTimeoutMs?: number;
}

export interface DovecotInstance {
  readonly pid: number;
  readonly profile: DovecotProfile;
  /** POP3 with STLS offered. */
  readonly plainPort: number;
  /** POP3S (implicit TLS). */
  readonly tlsPort: number;
  /** Self-signed server certificate, CN=localhost, SAN localhost + 127.0.0.1. */
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA file that verifies certFile (the certificate itself). */
  readonly caFile: string;
  readonly dir: string;
  readonly confFile: string;
  readonly logFile: string;
  /** Maildirs live at `<mailRoot>/<user>` (mail_location = maildir:<mailRoot>/%u). */
  readonly mailRoot: string;
  /** Owner of the mail files (the system user as root, else ourselves). */
  readonly owner: Owner;
  maildirOf(user: string): string;
  /** Writes messages into the user's Maildir new/, owned by `owner`. */
  fill(user: string, messages: readonly GeneratedMessage[]): Promise<void>;
  /** Empties the user's Maildir (and with resetIndex Dovecot's index/uidlist) and fills it again. */
  refill(user: string, messages: readonly GeneratedMessage[], options?: { resetIndex?: boolean }): Promise<void>;
  /** The last lines of the log (for failure messages). */
  logTail(lines?: number): string;
  /** SIGTERM to the master, wait for the whole tree to exit (SIGKILL stragglers), remove a temp dir. */
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/dovecot', '/usr/local/sbin/dovecot'];

/** Path of the dovecot binary, or null. */
export function dovecotBinary(): string | null {
  for (const path of CANDIDATES) if (existsSync(path)) return path;
  const found = spawnSync('sh', ['-c', 'command -v dovecot'], { encoding: 'utf8', timeout: 5000 });
  const path = found.stdout?.trim();
  return found.status === 0 && path ? path : null;
}

export function dovecotAvailable(): boolean {
  return dovecotBinary() !== null;
}

/** Why Dovecot tests cannot run here, or undefined when they can. */
export function dovecotUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the Dovecot harness needs Linux (/proc)';
  if (!dovecotBinary()) return 'dovecot is not installed (Debian: apt-get install dovecot-pop3d)';
  if (spawnSync('sh', ['-c', 'command -v openssl'], { timeout: 5000 }).status !== 0) return 'openssl is not installed';
  return undefined;
}

/** `dovecot --version`, e.g. "2.3.19.1 (9b53102964)". */
export function dovecotVersion(): string | null {
  const binary = dovecotBinary();
  if (!binary) return null;
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return out.status === 0 ? out.stdout.trim() : null;
}

const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/;

function checkUser(user: DovecotUser): void {
  if (!USER_NAME.test(user.name)) throw new Error(`unsupported Dovecot test user name ${JSON.stringify(user.name)}`);
  if (/[:\r\n\0]/.test(user.password) || user.password.length === 0) {
    throw new Error(`unsupported password for ${user.name} (passwd-file: no ':', newline or NUL, not empty)`);
  }
}

/** Instances started by this process: killed on exit if the test forgot (or crashed before) stop(). */
const running = new Map<number, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [pid, conf] of running) {
      if ((commandLine(pid) ?? '').includes(conf)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
  });
}

export interface DovecotLayout {
  dir: string;
  confFile: string;
  logFile: string;
  baseDir: string;
  stateDir: string;
  mailRoot: string;
  passwdFile: string;
  certPasswdFile: string;
}

function layout(dir: string): DovecotLayout {
  return {
    dir,
    confFile: join(dir, 'dovecot.conf'),
    logFile: join(dir, 'dovecot.log'),
    baseDir: join(dir, 'run'),
    stateDir: join(dir, 'state'),
    mailRoot: join(dir, 'mail'),
    passwdFile: join(dir, 'passwd'),
    certPasswdFile: join(dir, 'passwd-cert'),
  };
}

function groupName(): string {
  const out = spawnSync('id', ['-gn'], { encoding: 'utf8', timeout: 5000 });
  return out.stdout.trim();
}

function userName(): string {
  const out = spawnSync('id', ['-un'], { encoding: 'utf8', timeout: 5000 });
  return out.stdout.trim();
}

export function dovecotConfig(options: {
  profile: DovecotProfile;
  paths: DovecotLayout;
  instanceName: string;
  plainPort: number;
  tlsPort: number;
  certFile: string;
  keyFile: string;
  clientCa?: string;
  firstValidUid: number;
  verbose?: boolean;
}): string {
  const { paths, profile } = options;
  const root = isRoot();
  const external = options.clientCa !== undefined;
  const dh = existsSync('/usr/share/dovecot/dh.pem') ? 'ssl_dh = </usr/share/dovecot/dh.pem' : '';
  const loginTuning =
    profile === 'perf'
      ? `  service_count = 0
  process_min_avail = 2
  process_limit = 2
  client_limit = 1100
`
      : '';
  return `# generated by mailnode test/harness/dovecot.ts (profile=${profile})
instance_name = ${options.instanceName}
base_dir = ${paths.baseDir}
state_dir = ${paths.stateDir}
protocols = pop3
listen = 127.0.0.1
log_path = ${paths.logFile}
info_log_path = ${paths.logFile}
${options.verbose ? 'auth_verbose = yes\nauth_debug = yes\nverbose_ssl = yes\n' : ''}${
    root
      ? ''
      : `default_internal_user = ${userName()}
default_internal_group = ${groupName()}
default_login_user = ${userName()}
`
  }
ssl = yes
ssl_cert = <${options.certFile}
ssl_key = <${options.keyFile}
${dh}
${
  external
    ? `ssl_ca = <${options.clientCa}
ssl_verify_client_cert = yes
ssl_require_crl = no
auth_ssl_username_from_cert = yes
ssl_cert_username_field = commonName
`
    : ''
}disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 apop${external ? ' external' : ''}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${paths.passwdFile}
${external ? '  mechanisms = plain login cram-md5 apop\n' : ''}}
${
  external
    ? `# SASL EXTERNAL: the user is the client certificate's CN; these entries need no password.
passdb {
  driver = passwd-file
  args = username_format=%u ${paths.certPasswdFile}
  mechanisms = external
}
`
    : ''
}userdb {
  driver = passwd-file
  args = username_format=%u ${paths.passwdFile}
}
mail_location = maildir:${paths.mailRoot}/%u
first_valid_uid = ${options.firstValidUid}
mail_max_userip_connections = 5000
pop3_uidl_format = %08Xu%08Xv
default_client_limit = 2200
default_process_limit = 100
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${options.plainPort}
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = ${options.tlsPort}
    ssl = yes
  }
${loginTuning}${root ? '' : '  chroot =\n'}}
${profile === 'perf' ? 'service pop3 {\n  process_limit = 2100\n}\n' : ''}${root ? '' : 'service anvil {\n  chroot =\n}\n'}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the first line a POP3 server sends on `port`, or rejects. */
function readGreeting(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => finish(new Error('no greeting')), timeoutMs);
    const finish = (error: Error | null, line?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(line!);
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end >= 0) finish(null, data.slice(0, end));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error('closed before greeting')));
  });
}

function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(false), timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Runs a command that daemonizes: waits for the command itself to exit, not for its output
 * streams to close (the daemon inherits them), so output goes to a file.
 */
async function runToExit(command: string, args: readonly string[], outFile: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  const fd = openSync(outFile, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${command} did not exit within ${timeoutMs} ms`));
      }, timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode);
      });
    });
    return { code, output: readFileSync(outFile, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** SIGTERM to the master (if it is ours), then wait for every process of its tree to be gone. */
async function stopTree(pid: number, confFile: string, instanceName: string, timeoutMs = 10_000): Promise<void> {
  const cmd = commandLine(pid);
  if (cmd === null || !cmd.includes(confFile) || !isAlive(pid)) return;
  const tree = processTree(pid);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  const ours = (p: number) => {
    if (!isAlive(p)) return false;
    const line = commandLine(p) ?? '';
    return line.includes(confFile) || line.includes('dovecot') || line.includes(instanceName);
  };
  let left = tree.filter(ours);
  while (left.length > 0 && Date.now() < deadline) {
    await delay(50);
    left = left.filter(ours);
  }
  for (const p of left) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  const killDeadline = Date.now() + 5000;
  while (left.some(ours) && Date.now() < killDeadline) await delay(50);
}

export async function startDovecot(options: DovecotOptions): Promise<DovecotInstance> {
  const binary = dovecotBinary();
  if (!binary) throw new Error(dovecotUnavailableReason() ?? 'dovecot not found');
  const profile = options.profile ?? 'default';
  for (const user of options.users) checkUser(user);
  const owner = ensureSystemUser(PEER_USER);
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'mailnode-dovecot-')));
  // A free port can be taken by someone else between freePort() and Dovecot's bind: retry then.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startIn(dir, ownDir, binary, profile, owner, options);
    } catch (error) {
      if (attempt < 3 && /address already in use/i.test((error as Error).message)) continue;
      if (ownDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    }
  }
}

async function startIn(
  dir: string,
  ownDir: boolean,
  binary: string,
  profile: DovecotProfile,
  owner: Owner,
  options: DovecotOptions,
): Promise<DovecotInstance> {
  await mkdir(dir, { recursive: true });
  // Dovecot's auth process (user dovecot) reads the passwd-file; the pop3 processes (the
  // mail user) reach the Maildirs: the directory must be traversable.
  await chmod(dir, 0o755);
  const paths = layout(dir);
  const instanceName = `mnpeer-${randomBytes(4).toString('hex')}`;
  const { cert: certFile, key: keyFile } = await selfSignedCert(join(dir, 'certs'), { cn: 'localhost', sans: ['localhost', '127.0.0.1'] });
  await chmod(join(dir, 'certs'), 0o755);
  const plainPort = await freePort();
  let tlsPort = await freePort();
  for (let i = 0; i < 10 && tlsPort === plainPort; i++) tlsPort = await freePort();

  await mkdir(paths.mailRoot, { recursive: true, mode: 0o755 });
  if (isRoot()) await chown(paths.mailRoot, owner.uid, owner.gid);
  const maildirOf = (user: string) => {
    if (!USER_NAME.test(user)) throw new Error(`unsupported user name ${JSON.stringify(user)}`);
    return join(paths.mailRoot, user);
  };
  const passwd = options.users.map((u) => `${u.name}:{PLAIN}${u.password}:${owner.uid}:${owner.gid}::${maildirOf(u.name)}::\n`).join('');
  await writeFile(paths.passwdFile, passwd, { mode: 0o640 });
  if (options.clientCa) {
    const certUsers = options.users.map((u) => `${u.name}::${owner.uid}:${owner.gid}::${maildirOf(u.name)}::nopassword=y\n`).join('');
    await writeFile(paths.certPasswdFile, certUsers, { mode: 0o640 });
  }
  if (isRoot()) {
    const dovecotGid = spawnSync('id', ['-g', 'dovecot'], { encoding: 'utf8', timeout: 5000 });
    const gid = dovecotGid.status === 0 ? Number(dovecotGid.stdout.trim()) : undefined;
    for (const file of [paths.passwdFile, ...(options.clientCa ? [paths.certPasswdFile] : [])]) {
      if (gid !== undefined) await chown(file, 0, gid);
      else await chmod(file, 0o644);
    }
  }
  for (let i = 0; i < options.users.length; i += 64) {
    await Promise.all(options.users.slice(i, i + 64).map((u) => makeMaildir(maildirOf(u.name), isRoot() ? owner : undefined)));
  }
  await mkdir(paths.stateDir, { recursive: true });
  await writeFile(
    paths.confFile,
    dovecotConfig({
      profile,
      paths,
      instanceName,
      plainPort,
      tlsPort,
      certFile,
      keyFile,
      clientCa: options.clientCa,
      firstValidUid: Math.max(1, Math.min(owner.uid, 500)),
      verbose: options.verbose,
    }),
  );

  const nofile = Math.max(1024, Math.floor(options.nofile ?? 20_000));
  const started = await runToExit(
    'bash',
    ['-c', `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" -c "$1"`, binary, paths.confFile],
    join(dir, 'dovecot-start.out'),
    30_000,
  );
  if (started.code !== 0) {
    throw new Error(`dovecot -c ${paths.confFile} failed (exit ${started.code}): ${started.output.trim()}\n${tail(paths.logFile, 20)}`);
  }
  const startTimeout = options.startTimeoutMs ?? 20_000;
  const deadline = Date.now() + startTimeout;
  const pidFile = join(paths.baseDir, 'master.pid');
  let pid = 0;
  while (Date.now() < deadline) {
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    if (/^\d+\s*$/.test(text)) {
      pid = Number(text.trim());
      break;
    }
    await delay(50);
  }
  if (!pid || !(commandLine(pid) ?? '').includes(paths.confFile)) {
    throw new Error(`dovecot did not write ${pidFile} within ${startTimeout} ms\n${tail(paths.logFile, 20)}`);
  }
  running.set(pid, paths.confFile);
  installExitHook();

  const stop = async (): Promise<void> => {
    if (!running.has(pid)) return;
    try {
      await stopTree(pid, paths.confFile, instanceName);
    } finally {
      running.delete(pid);
      if (ownDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  try {
    let ready = false;
    let lastError = '';
    while (!ready && Date.now() < deadline) {
      if (!isAlive(pid)) throw new Error('dovecot master exited during startup');
      try {
        const greeting = await readGreeting(plainPort, 2000);
        if (!greeting.startsWith('+OK')) throw new Error(`greeting: ${greeting}`);
        ready = await canConnect(tlsPort, 2000);
      } catch (error) {
        lastError = (error as Error).message;
        await delay(50);
      }
    }
    if (!ready) throw new Error(`dovecot did not accept connections on ${plainPort}/${tlsPort} within ${startTimeout} ms (${lastError})`);
  } catch (error) {
    const logText = tail(paths.logFile, 20);
    await stop();
    throw new Error(`${(error as Error).message}\n${logText}`);
  }

  const mailOwner = isRoot() ? owner : undefined;
  return {
    pid,
    profile,
    plainPort,
    tlsPort,
    certFile,
    keyFile,
    caFile: certFile,
    dir,
    confFile: paths.confFile,
    logFile: paths.logFile,
    mailRoot: paths.mailRoot,
    owner: { uid: owner.uid, gid: owner.gid },
    maildirOf,
    fill: (user, messages) => fillMaildir(maildirOf(user), messages, mailOwner),
    refill: (user, messages, opts) => refillMaildir(maildirOf(user), messages, { owner: mailOwner, resetIndex: opts?.resetIndex }),
    logTail: (lines = 30) => tail(paths.logFile, lines),
    stop,
  };
}
