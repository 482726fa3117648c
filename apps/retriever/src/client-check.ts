/**
 * `mailnode check` for one client (POPFetch's -test): is the recipient known, does the server
 * answer, does the login work? Nothing is downloaded or deleted.
 */
import { access, constants } from 'node:fs/promises';
import type { RetrieverClientConfig } from '@mailnode/config';
import { DirectoryUnavailableError } from '@mailnode/directory';
import { deliveryMode, endpointOf, runClientSession, type SessionDependencies } from './client-session.ts';
import type { CheckResult } from './client-status.ts';
import { failureScope } from './failure-delays.ts';

type Step = { readonly ok: boolean; readonly detail: string };

export async function checkClient(client: RetrieverClientConfig, deps: SessionDependencies): Promise<CheckResult> {
  const endpoint = endpointOf(client);
  const server = `${endpoint.host}:${endpoint.port}`;
  const recip = await checkRecipient(client, deps).catch((error: unknown): Step => ({
    ok: false,
    detail: error instanceof DirectoryUnavailableError ? `directory unavailable: ${error.message}` : (error as Error).message,
  }));
  const output = await runClientSession(client, deps, { checkOnly: true });
  const stage = output.error?.stage;
  const connectFailed = stage !== undefined && failureScope(stage) === 'host';
  const connect: Step = connectFailed
    ? { ok: false, detail: `${stage}: ${output.error!.message}` }
    : { ok: true, detail: `${endpoint.tls === 'none' ? 'plaintext' : endpoint.tls === 'stls' ? 'STLS' : 'implicit TLS'} connection to ${server} works` };
  const login = connectFailed
    ? { ok: false, detail: 'not tried: no connection' }
    : output.ok
      ? { ok: true, detail: `logged in as ${client.server.username ?? '(no username)'}`, messages: output.listed?.messages, bytes: output.listed?.bytes }
      : { ok: false, detail: `${stage}: ${output.error?.message ?? 'failed'}` };
  return { id: client.id, server, recip, connect, login };
}

async function checkRecipient(client: RetrieverClientConfig, deps: SessionDependencies): Promise<Step> {
  const { directory } = deps;
  switch (deliveryMode(client)) {
    case 'maildir': {
      const user = await directory.lookupUser(client.recip!);
      return user ? { ok: true, detail: `local user ${user.name}` } : { ok: false, detail: `'${client.recip}' is not a user in the Directory` };
    }
    case 'smtp': {
      const targets = await directory.expandAlias(client.recip!);
      // In SMTP mode an address we do not know is passed on as it is: the SMTP server decides.
      return { ok: true, detail: targets.length ? `SMTP recipients ${targets.join(', ')}` : `SMTP recipient ${client.recip} (not in the Directory)` };
    }
    case 'directory': {
      const dir = client.downloads_directory!.replaceAll('%U%', client.recip!);
      const writable = await access(dir, constants.W_OK).then(() => true, () => false);
      return { ok: true, detail: writable ? `downloads directory ${dir}` : `downloads directory ${dir} (created on first run)` };
    }
    case 'domainwide': {
      const settings = client.domainwide!;
      const fallback = settings.dflt_address ?? 'postmaster';
      const users = await directory.expandAlias(fallback);
      return users.length
        ? { ok: true, detail: `domain-wide by ${settings.header}; default address ${fallback} → ${users.join(', ')}` }
        : { ok: false, detail: `domain-wide: default address ${fallback} resolves to no local user (unroutable mail would become duds)` };
    }
  }
}
