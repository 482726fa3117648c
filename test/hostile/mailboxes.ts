/** Users files and pre-filled Maildirs for a mailnode child process (before or after it starts). */
import { join } from 'node:path';
import { fillMaildir, fixedSize, type GeneratedMessage } from '../harness/mail-generator.ts';

export interface TestUser {
  readonly name: string;
  readonly password: string;
}

/** `count` users named `${prefix}NN` with password `pw-${name}`. */
export function makeUsers(count: number, prefix = 'u'): TestUser[] {
  const width = String(count - 1).length;
  return Array.from({ length: count }, (_, i) => {
    const name = `${prefix}${String(i).padStart(width, '0')}`;
    return { name, password: `pw-${name}` };
  });
}

export function usersFile(users: readonly TestUser[]): string {
  return users.map((user) => `${user.name}:${user.password}\n`).join('');
}

/** Writes `messages` into `<mailRoot>/<user>/Maildir/new`, as a delivering MDA would. */
export async function fillMailbox(mailRoot: string, user: string, messages: readonly GeneratedMessage[]): Promise<void> {
  await fillMaildir(join(mailRoot, user, 'Maildir'), messages);
}

/** Fills every user's Maildir with `count` messages of `size` bytes (the same set for each). */
export async function fillMailboxes(mailRoot: string, users: readonly TestUser[], count: number, size: number, seed = 7): Promise<GeneratedMessage[]> {
  const messages = fixedSize(count, size, seed);
  for (const user of users) await fillMailbox(mailRoot, user.name, messages);
  return messages;
}
