/**
 * An unprivileged system account for peers that refuse to serve mail as root (Dovecot).
 * As root: created once with useradd (no home, no login shell) and reused afterwards.
 * Not root: nothing can be created; the current uid/gid is returned and peers run as us.
 */
import { spawnSync } from 'node:child_process';

export interface SystemUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  /** True when this call ran useradd. */
  readonly created: boolean;
}

export const PEER_USER = 'mailnode-peer';

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function idOf(name: string): { uid: number; gid: number } | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8', timeout: 5000 });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8', timeout: 5000 });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** The uid/gid of `name`, creating the account first when we are root and it does not exist. */
export function ensureSystemUser(name: string = PEER_USER): SystemUser {
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(name)) throw new Error(`invalid system user name ${JSON.stringify(name)}`);
  if (!isRoot()) {
    return { name: process.env.USER ?? String(process.getuid?.() ?? ''), uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, created: false };
  }
  const existing = idOf(name);
  if (existing) return { name, ...existing, created: false };
  const add = spawnSync(
    'useradd',
    ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name],
    { encoding: 'utf8', timeout: 15_000 },
  );
  // Another test process may have created it meanwhile (useradd exits 9: already exists).
  const made = idOf(name);
  if (!made) throw new Error(`useradd ${name} failed (exit ${add.status}): ${add.stderr.trim()}`);
  return { name, ...made, created: add.status === 0 };
}
