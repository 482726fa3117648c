/** A retriever client built from `mailnode fetch` options, checked by the same schema as the config file. */
import { resolve } from 'node:path';
import { ConfigError, retrieverClientSchema, type RetrieverClientConfig } from '@mailnode/config';
import type { FetchArgs } from './cli-args.ts';

export const ONE_OFF_CLIENT_ID = 'command-line';

export function hasOneOffClient(args: FetchArgs): boolean {
  return args.server !== undefined;
}

export function oneOffClient(args: FetchArgs): RetrieverClientConfig {
  if (!args.recip && !args.downloadsDirectory) throw new ConfigError('command line', undefined, '--recip', 'give --recip USER or --downloads-directory DIR');
  if (args.ssl && args.stls) throw new ConfigError('command line', undefined, '--ssl', 'give either --ssl or --stls, not both');
  const raw = {
    id: ONE_OFF_CLIENT_ID,
    recip: args.recip ?? 'download',
    freq: 0,
    preserve: args.preserve,
    downloads_directory: args.downloadsDirectory ? resolve(args.downloadsDirectory) : undefined,
    server: {
      address: args.server,
      username: args.user,
      password_file: args.passwordFile ? resolve(args.passwordFile) : undefined,
      ...(args.authtypes ? { authtypes: args.authtypes } : {}),
    },
    ssl: args.ssl || args.stls ? { latent: args.stls, ca: args.ca ? resolve(args.ca) : undefined } : undefined,
  };
  const parsed = retrieverClientSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError('command line', undefined, issue.path.join('.'), issue.message);
  }
  return parsed.data;
}
