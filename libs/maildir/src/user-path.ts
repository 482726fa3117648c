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
 * A mailbox key is a user name, or a location below the root given by the Directory
 * (`example.org/alice`): '/'-separated segments. Rejects anything that could address a path
 * outside `<root>`: empty segments, leading dots ('.', '..', hidden entries), backslashes,
 * NUL and control characters.
 */
export function validateUser(user: string): void {
  if (typeof user !== 'string' || user.length === 0) throw new Error('invalid mailbox name: empty');
  for (const segment of user.split('/')) {
    if (segment.length === 0) throw new Error(`invalid mailbox name ${JSON.stringify(user)}: empty path segment`);
    if (segment.startsWith('.')) throw new Error(`invalid mailbox name ${JSON.stringify(user)}: a segment starts with '.'`);
  }
  for (let i = 0; i < user.length; i++) {
    const c = user.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x5c /* \ */) {
      throw new Error(`invalid mailbox name ${JSON.stringify(user)}: forbidden character`);
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
