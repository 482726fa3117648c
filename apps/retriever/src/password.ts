/** A client's password: inline, from a file (first line), or from an environment variable. */
import { readFile } from 'node:fs/promises';
import type { RetrieverClientConfig } from '@mailnode/config';
import { RetrievalError } from '@mailnode/pop3-client-session';

export async function resolvePassword(server: RetrieverClientConfig['server']): Promise<string | undefined> {
  if (server.password !== undefined) return server.password;
  if (server.password_file !== undefined) {
    try {
      return (await readFile(server.password_file, 'utf8')).split(/\r?\n/)[0];
    } catch (error) {
      throw new RetrievalError('auth', `cannot read password_file ${server.password_file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  }
  if (server.password_env !== undefined) {
    const value = process.env[server.password_env];
    if (value === undefined) throw new RetrievalError('auth', `environment variable ${server.password_env} (password_env) is not set`);
    return value;
  }
  return undefined;
}
