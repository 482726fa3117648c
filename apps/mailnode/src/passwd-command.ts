/** `mailnode passwd`: print a `{SCHEME}hash` line for the users file, like `doveadm pw`. */
import { readFile } from 'node:fs/promises';
import { hashPassword, SUPPORTED_SCHEMES } from '@mailnode/directory';
import { UsageError } from './cli-args.ts';

export async function passwdCommand(options: { scheme?: string; passwordFile?: string; stdin: NodeJS.ReadableStream }): Promise<string> {
  const scheme = (options.scheme ?? 'ARGON2ID').toUpperCase();
  if (!(SUPPORTED_SCHEMES as readonly string[]).includes(scheme)) throw new UsageError(`unknown scheme ${scheme} (one of ${SUPPORTED_SCHEMES.join(', ')})`);
  const raw = options.passwordFile ? await readFile(options.passwordFile, 'utf8') : await readAll(options.stdin);
  const password = raw.replace(/\r?\n$/, '');
  if (!password) throw new UsageError('empty password');
  return hashPassword(scheme, password);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
