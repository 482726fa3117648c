import { join } from 'node:path';

/** The directories of one user's Maildir. */
export interface MaildirPaths {
  readonly maildir: string;
  readonly tmp: string;
  readonly new: string;
  readonly cur: string;
  readonly lock: string;
}

export const LOCK_FILE_NAME = 'mailnode-pop3.lock';

/**
 * Rejects user names that could address anything but `<root>/<user>`: path separators,
 * NUL and control characters, and leading dots ('.', '..', hidden entries).
 */
export function validateUser(user: string): void {
  if (typeof user !== 'string' || user.length === 0) throw new Error('invalid user name: empty');
  if (user.startsWith('.')) throw new Error(`invalid user name ${JSON.stringify(user)}: starts with '.'`);
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f /* / */ || c === 0x5c /* \ */) {
      throw new Error(`invalid user name ${JSON.stringify(user)}: forbidden character`);
    }
  }
}

export function maildirPaths(root: string, user: string): MaildirPaths {
  validateUser(user);
  const maildir = join(root, user, 'Maildir');
  return {
    maildir,
    tmp: join(maildir, 'tmp'),
    new: join(maildir, 'new'),
    cur: join(maildir, 'cur'),
    lock: join(maildir, LOCK_FILE_NAME),
  };
}
