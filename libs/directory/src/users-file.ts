/**
 * The users file: `username:password` per line, split at the first colon so passwords may
 * contain colons. A missing or empty password means the mailbox exists but nobody can log in.
 */
import { significantLines } from './directory-lines.ts';
import type { LineProblem, ParsedDirectoryFile } from './directory-lines.ts';
import { localPartProblem } from './names.ts';
import { describeSecretProblem, plaintextOf } from './password-schemes.ts';

export interface UserEntry {
  /** Lower-cased. */
  readonly name: string;
  /** Stored secret (`{SCHEME}value` or plain text); null when the user cannot log in. */
  readonly secret: string | null;
}

/** Keyed by lower-cased user name. */
export type UserTable = ReadonlyMap<string, UserEntry>;

export function parseUsersFile(text: string): ParsedDirectoryFile<UserTable> {
  const users = new Map<string, UserEntry>();
  const problems: LineProblem[] = [];
  for (const { line, text: content } of significantLines(text)) {
    const colon = content.indexOf(':');
    const name = (colon === -1 ? content : content.slice(0, colon)).toLowerCase();
    const rawSecret = colon === -1 ? '' : content.slice(colon + 1);
    const nameProblem = localPartProblem(name);
    if (nameProblem) {
      problems.push({ line, reason: nameProblem });
      continue;
    }
    if (users.has(name)) {
      problems.push({ line, reason: `duplicate user '${name}' (the first entry is kept)` });
      continue;
    }
    const secretProblem = rawSecret === '' ? null : describeSecretProblem(rawSecret);
    if (secretProblem) {
      problems.push({ line, reason: secretProblem });
      continue;
    }
    // `{PLAIN}` with nothing after it would accept an empty password; treat it like no password.
    const secret = rawSecret === '' || plaintextOf(rawSecret) === '' ? null : rawSecret;
    users.set(name, { name, secret });
  }
  return { value: users, problems };
}
