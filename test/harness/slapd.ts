/**
 * A private OpenLDAP slapd for tests: its own slapd.conf, schema, mdb database and log under one
 * (temp) directory, listening on 127.0.0.1 only, on free ports.
 *
 *   const slapd = await startSlapd({ tls: await makeSlapdTls(dir) });
 *   ... LDAP on slapd.url (StartTLS offered with tls) and slapd.ldapsUrl ...
 *   await slapd.dispose();
 *
 * Data is loaded offline with slapadd: the suffix entry, ou=people/groups/aliases/services and
 * the service accounts (ldap-fixture.ts baseEntriesLdif), then `ldif` (default: the Directory
 * fixture). slapd runs in the foreground (`-d 0`) as our child, so its PID is known without a
 * pidfile; stop() signals that PID only after checking /proc/PID/cmdline names our config file.
 * Debian's build: modules from /usr/lib/ldap (back_mdb, argon2), GnuTLS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeRun, runTool, type ToolResult } from './external-tool.ts';
import { freePort } from './free-port.ts';
import {
  ADMIN_DN,
  ADMIN_PASSWORD,
  baseEntriesLdif,
  LIMITED_DN,
  LIMITED_PASSWORD,
  SERVICE_DN,
  SERVICE_PASSWORD,
  SUFFIX,
} from './ldap-fixture.ts';
import { makeTestPki } from './pki.ts';
import { commandLine, isAlive } from './proc-stats.ts';

export interface SlapdTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

export interface SlapdOptions {
  /**
   * LDIF entries below the suffix. The harness adds the suffix entry, ou=people, ou=groups,
   * ou=aliases, ou=services and the two service accounts itself (skipping any of those this LDIF
   * defines). Default: directoryFixtureLdif().
   */
  readonly ldif?: string;
  /** Server certificate: enables StartTLS on the ldap:// port and an ldaps:// listener. */
  readonly tls?: SlapdTls;
  /** Where everything goes; a new temp dir when absent, removed by stop({ keepData: false }) / dispose(). */
  readonly dir?: string;
}

export interface Slapd {
  /** ldap://127.0.0.1:PORT */
  readonly url: string;
  /** ldaps://127.0.0.1:PORT2 when tls was given. */
  readonly ldapsUrl?: string;
  readonly port: number;
  readonly ldapsPort?: number;
  readonly suffix: string;
  /** The rootdn. */
  readonly adminDn: string;
  readonly adminPassword: string;
  /** May read userPassword. */
  readonly serviceDn: string;
  readonly servicePassword: string;
  /** May search and read, but not userPassword. */
  readonly limitedDn: string;
  readonly limitedPassword: string;
  /** PID of the running slapd (changes with start()); 0 while stopped. */
  readonly pid: number;
  readonly dir: string;
  readonly confFile: string;
  /** slapd's stderr (all runs appended). */
  readonly logFile: string;
  /** Stop the server (SIGTERM by PID, SIGKILL after 5 s); data is kept unless keepData: false. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /** Start again on the same ports with the same data (outage tests). */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: the server accepts TCP (kernel backlog) but never answers. */
  freeze(): void;
  thaw(): void;
  /** Apply an LDIF change (changetype: modify/add/delete) as the rootdn with ldapmodify. */
  modify(ldif: string): Promise<void>;
  /** The last lines of the log (for failure messages). */
  logTail(lines?: number): string;
  /** stop() and remove the temp dir (a caller's `dir` is left alone). */
  dispose(): Promise<void>;
}

const MODULE_DIR = '/usr/lib/ldap';
const SCHEMA_DIR = '/etc/ldap/schema';
const SCHEMAS = ['core', 'cosine', 'inetorgperson', 'nis', 'misc'];
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5000;

function findBinary(name: string, candidates: readonly string[]): string | null {
  for (const path of candidates) if (existsSync(path)) return path;
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8', timeout: 5000 });
  const path = found.stdout?.trim();
  return found.status === 0 && path ? path : null;
}

export function slapdBinary(): string | null {
  return findBinary('slapd', ['/usr/sbin/slapd', '/usr/local/libexec/slapd']);
}

function slapaddBinary(): string | null {
  return findBinary('slapadd', ['/usr/sbin/slapadd', '/usr/local/sbin/slapadd']);
}

/** Why slapd tests cannot run here, or null when they can. */
export function slapdUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'the slapd harness needs Linux (/proc)';
  if (!slapdBinary() || !slapaddBinary()) return 'OpenLDAP slapd is not installed (Debian: apt-get install slapd ldap-utils)';
  for (const tool of ['ldapwhoami', 'ldapsearch', 'ldapmodify']) {
    if (!findBinary(tool, [`/usr/bin/${tool}`])) return `${tool} is not installed (Debian: apt-get install ldap-utils)`;
  }
  for (const module of ['back_mdb', 'argon2']) {
    if (!existsSync(join(MODULE_DIR, `${module}.so`))) return `${MODULE_DIR}/${module}.so is missing (the harness expects Debian's modular slapd)`;
  }
  for (const schema of SCHEMAS) if (!existsSync(join(SCHEMA_DIR, `${schema}.schema`))) return `${SCHEMA_DIR}/${schema}.schema is missing`;
  return null;
}

/** Environment for ldap-utils: no user/system defaults in the way, the test CA when given. */
export function ldapClientEnv(caFile?: string): Record<string, string | undefined> {
  return {
    LDAPRC: '/nonexistent',
    LDAPTLS_CACERT: caFile,
    LDAPTLS_CACERTDIR: undefined,
    LDAPTLS_REQCERT: caFile ? 'demand' : undefined,
  };
}

/** Runs an ldap-utils command (ldapsearch, ldapwhoami, ldapmodify...). */
export function ldapTool(command: string, args: readonly string[], options: { caFile?: string; stdin?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return runTool(command, args, { env: ldapClientEnv(options.caFile), stdin: options.stdin, timeoutMs: options.timeoutMs ?? 15_000 });
}

/** A server certificate for localhost / 127.0.0.1 signed by a fresh test CA under `dir`. */
export async function makeSlapdTls(dir: string): Promise<SlapdTls> {
  const pki = await makeTestPki(dir);
  const server = await pki.serverCert('localhost', ['localhost', '127.0.0.1']);
  return { certFile: server.cert, keyFile: server.key, caFile: pki.caCert };
}

/** mailMessageStore + mailnodeMailbox, under OpenLDAP's experimental arc (never for production). */
export const TEST_SCHEMA = `# generated by mailnode test/harness/slapd.ts
attributetype ( 1.3.6.1.4.1.4203.666.7171.1.1 NAME 'mailMessageStore'
  DESC 'mailnode test: where the mailbox lives'
  EQUALITY caseExactIA5Match
  SUBSTR caseExactIA5SubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )

objectclass ( 1.3.6.1.4.1.4203.666.7171.2.1 NAME 'mailnodeMailbox'
  DESC 'mailnode test: mailbox attributes'
  SUP top AUXILIARY
  MAY mailMessageStore )
`;

interface SlapdLayout {
  dir: string;
  confFile: string;
  schemaFile: string;
  dataDir: string;
  runDir: string;
  logFile: string;
  ldifFile: string;
}

function layout(dir: string): SlapdLayout {
  return {
    dir,
    confFile: join(dir, 'slapd.conf'),
    schemaFile: join(dir, 'mailnode-test.schema'),
    dataDir: join(dir, 'data'),
    runDir: join(dir, 'run'),
    logFile: join(dir, 'slapd.log'),
    ldifFile: join(dir, 'initial.ldif'),
  };
}

export function slapdConfig(paths: SlapdLayout, tls?: SlapdTls): string {
  // ACLs sit in the database section: they guard the data, while the root DSE and the
  // subschema entry keep slapd's default (readable), so clients can discover StartTLS.
  // "anonymous auth" on userPassword is what lets anyone bind at all.
  return `# generated by mailnode test/harness/slapd.ts
${SCHEMAS.map((s) => `include ${join(SCHEMA_DIR, `${s}.schema`)}`).join('\n')}
include ${paths.schemaFile}

modulepath ${MODULE_DIR}
moduleload back_mdb
moduleload argon2

pidfile ${join(paths.runDir, 'slapd.pid')}
argsfile ${join(paths.runDir, 'slapd.args')}
loglevel none
${
  tls
    ? `TLSCertificateFile ${tls.certFile}
TLSCertificateKeyFile ${tls.keyFile}
TLSCACertificateFile ${tls.caFile}
TLSVerifyClient never
`
    : ''
}
database mdb
suffix "${SUFFIX}"
rootdn "${ADMIN_DN}"
rootpw ${ADMIN_PASSWORD}
directory ${paths.dataDir}
maxsize 16777216
index objectClass eq
index uid,cn,mail,mailLocalAddress eq

access to attrs=userPassword
  by dn.exact="${SERVICE_DN}" read
  by self read
  by anonymous auth
  by * none
access to *
  by dn.exact="${SERVICE_DN}" read
  by dn.exact="${LIMITED_DN}" read
  by users read
  by * none
`;
}

/** DNs of the records in an LDIF text, lower-cased (base64 DNs decoded). */
function ldifDns(ldif: string): Set<string> {
  const dns = new Set<string>();
  for (const match of ldif.matchAll(/^dn(::?) *(.*)$/gim)) {
    const dn = match[1] === '::' ? Buffer.from(match[2]!, 'base64').toString('utf8') : match[2]!;
    dns.add(dn.replace(/\s*,\s*/g, ',').toLowerCase());
  }
  return dns;
}

/** The harness's base entries minus those `ldif` already defines. */
function baseEntriesFor(ldif: string): string {
  const defined = ldifDns(ldif);
  return baseEntriesLdif()
    .split(/\n\n/)
    .filter((record) => record.trim() && ![...ldifDns(record)].some((dn) => defined.has(dn)))
    .map((record) => `${record}\n\n`)
    .join('');
}

/** Instances started by this process: killed on exit if the test forgot (or crashed before) stop(). */
const running = new Map<number, { confFile: string; tempDir?: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const [pid, { confFile, tempDir }] of running) {
      if ((commandLine(pid) ?? '').includes(confFile)) signal(pid, 'SIGTERM', 'SIGCONT');
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    }
  });
}

function signal(pid: number, ...signals: NodeJS.Signals[]): void {
  for (const s of signals) {
    try {
      process.kill(pid, s);
    } catch {
      // already gone
    }
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Spawns slapd in the foreground, stderr appended to the log; returns its PID. */
function spawnSlapd(binary: string, paths: SlapdLayout, urls: readonly string[]): number {
  const fd = openSync(paths.logFile, 'a');
  try {
    // -d 0: stay in the foreground (our child, PID known) without debug output; errors still reach stderr.
    const child = spawn(binary, ['-f', paths.confFile, '-h', urls.join(' '), '-d', '0'], { stdio: ['ignore', fd, fd], detached: true });
    child.on('error', () => undefined);
    child.unref();
    if (child.pid === undefined) throw new Error(`could not spawn ${binary}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM (and SIGCONT, in case it is frozen), SIGKILL after the grace period; resolves when gone. */
async function stopPid(pid: number, confFile: string): Promise<void> {
  if (!isAlive(pid) || !(commandLine(pid) ?? '').includes(confFile)) return;
  signal(pid, 'SIGTERM', 'SIGCONT');
  const deadline = Date.now() + STOP_GRACE_MS;
  while (isAlive(pid) && Date.now() < deadline) await delay(25);
  if (isAlive(pid)) signal(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (isAlive(pid) && Date.now() < killDeadline) await delay(25);
}

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  const reason = slapdUnavailableReason();
  if (reason) throw new Error(reason);
  const ldif = options.ldif ?? (await import('./ldap-fixture.ts')).directoryFixtureLdif();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'mailnode-slapd-')));
  try {
    const paths = await prepare(dir, ldif, options.tls);
    // A free port can be taken by someone else between freePort() and slapd's bind: retry then.
    for (let attempt = 1; ; attempt++) {
      try {
        return await launch(paths, ownDir, options.tls);
      } catch (error) {
        if (attempt < 3 && /address already in use/i.test((error as Error).message)) continue;
        throw error;
      }
    }
  } catch (error) {
    if (ownDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
}

/** Writes config and schema, loads the data with slapadd. */
async function prepare(dir: string, ldif: string, tls: SlapdTls | undefined): Promise<SlapdLayout> {
  const paths = layout(dir);
  await mkdir(paths.dataDir, { recursive: true, mode: 0o700 });
  await mkdir(paths.runDir, { recursive: true });
  await writeFile(paths.schemaFile, TEST_SCHEMA);
  await writeFile(paths.confFile, slapdConfig(paths, tls));
  await writeFile(paths.ldifFile, baseEntriesFor(ldif) + ldif.replace(/^\n+/, ''));
  const added = await runTool(slapaddBinary()!, ['-f', paths.confFile, '-l', paths.ldifFile], { timeoutMs: 30_000 });
  if (added.code !== 0) throw new Error(`slapadd -f ${paths.confFile} -l ${paths.ldifFile} failed: ${describeRun(added)}`);
  return paths;
}

async function launch(paths: SlapdLayout, ownDir: boolean, tls: SlapdTls | undefined): Promise<Slapd> {
  const binary = slapdBinary()!;
  const port = await freePort();
  let ldapsPort: number | undefined;
  if (tls) {
    ldapsPort = await freePort();
    for (let i = 0; i < 10 && ldapsPort === port; i++) ldapsPort = await freePort();
  }
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = ldapsPort === undefined ? undefined : `ldaps://127.0.0.1:${ldapsPort}`;
  const listeners = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])];
  const tempDir = ownDir ? paths.dir : undefined;
  let pid = 0;
  let removed = false;

  const waitReady = async (): Promise<void> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastError = 'not tried';
    while (Date.now() < deadline) {
      if (!isAlive(pid)) throw new Error(`slapd exited during startup\n${tail(paths.logFile, 20)}`);
      if ((await canConnect(port, 1000)) && (ldapsPort === undefined || (await canConnect(ldapsPort, 1000)))) {
        const who = await ldapTool('ldapwhoami', ['-x', '-H', url, '-D', SERVICE_DN, '-w', SERVICE_PASSWORD], { timeoutMs: 3000 });
        if (who.code === 0) return;
        lastError = `ldapwhoami: ${describeRun(who)}`;
      } else {
        lastError = 'no TCP connect';
      }
      await delay(50);
    }
    throw new Error(`slapd did not answer on ${listeners.join(' ')} within ${START_TIMEOUT_MS} ms (${lastError})\n${tail(paths.logFile, 20)}`);
  };

  const start = async (): Promise<void> => {
    if (removed) throw new Error('slapd harness: start() after the data was removed');
    if (pid && isAlive(pid)) return;
    pid = spawnSlapd(binary, paths, listeners);
    running.set(pid, { confFile: paths.confFile, tempDir });
    installExitHook();
    try {
      await waitReady();
    } catch (error) {
      await stop();
      throw error;
    }
  };

  const stop = async (stopOptions: { keepData?: boolean } = {}): Promise<void> => {
    if (pid) {
      await stopPid(pid, paths.confFile);
      running.delete(pid);
      pid = 0;
    }
    if (stopOptions.keepData === false && ownDir && !removed) {
      removed = true;
      await rm(paths.dir, { recursive: true, force: true });
    }
  };

  const modify = async (change: string): Promise<void> => {
    const result = await ldapTool('ldapmodify', ['-x', '-H', url, '-D', ADMIN_DN, '-w', ADMIN_PASSWORD], { stdin: change });
    if (result.code !== 0) throw new Error(`ldapmodify failed: ${describeRun(result)}`);
  };

  await start();
  return {
    url,
    ldapsUrl,
    port,
    ldapsPort,
    suffix: SUFFIX,
    adminDn: ADMIN_DN,
    adminPassword: ADMIN_PASSWORD,
    serviceDn: SERVICE_DN,
    servicePassword: SERVICE_PASSWORD,
    limitedDn: LIMITED_DN,
    limitedPassword: LIMITED_PASSWORD,
    get pid() {
      return pid;
    },
    dir: paths.dir,
    confFile: paths.confFile,
    logFile: paths.logFile,
    stop,
    start,
    freeze: () => {
      if (pid) process.kill(pid, 'SIGSTOP');
    },
    thaw: () => {
      if (pid) process.kill(pid, 'SIGCONT');
    },
    modify,
    logTail: (lines = 30) => tail(paths.logFile, lines),
    dispose: () => stop({ keepData: false }),
  };
}
