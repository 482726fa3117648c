/**
 * A small pool of LDAP connections with failover across URLs, StartTLS, a service bind and
 * reconnection. Two kinds of slot: search slots stay bound as the service account; bind
 * slots are only used to test a user's password (a bind changes the connection's identity).
 *
 * Any transport failure (refused, reset, timeout) discards the connection and the operation is
 * retried once on a fresh one, so a restarted server is picked up without restarting mailnode.
 * If that fails too, the caller gets DirectoryUnavailableError: a temporary failure.
 */
import type { Client } from 'ldapts';
import { DirectoryUnavailableError } from '../contract.ts';
import type { DirectoryLog } from '../directory-log.ts';
import { isLdaptsError, loadLdapts } from './ldapts-module.ts';
import type { LdapDirectoryOptions } from './ldap-options.ts';

/** The connection settings of the LDAP Directory, plus the pool's size and log. */
export type LdapConnectionOptions = Pick<
  LdapDirectoryOptions,
  'urls' | 'starttls' | 'tls' | 'bindDn' | 'bindPassword' | 'connectTimeoutMs' | 'timeoutMs'
> & {
  /** Connections of each kind (searches, password binds). */
  readonly size: number;
  readonly log: DirectoryLog;
};

export type LdapScope = 'base' | 'one' | 'sub';

/** A search result with attribute names lower-cased and every value a string. */
export interface LdapEntry {
  readonly dn: string;
  readonly attributes: ReadonlyMap<string, readonly string[]>;
}

export interface SearchQuery {
  readonly base: string;
  readonly filter: string;
  readonly attributes: readonly string[];
  readonly scope?: LdapScope;
  readonly sizeLimit?: number;
  /** A missing base entry is an empty answer (a member DN of a deleted user), not a configuration error. */
  readonly missingBaseIsEmpty?: boolean;
}

export type SearchOutcome = { readonly entries: LdapEntry[]; readonly truncated: boolean };

type Purpose = 'search' | 'bind';

interface Slot {
  client: Client | null;
  url: string;
  busy: boolean;
}

export class LdapConnectionPool {
  private readonly slots: Record<Purpose, Slot[]>;
  private readonly waiters: Record<Purpose, (() => void)[]> = { search: [], bind: [] };
  private closed = false;

  constructor(private readonly options: LdapConnectionOptions) {
    const make = (): Slot[] => Array.from({ length: Math.max(1, options.size) }, () => ({ client: null, url: '', busy: false }));
    this.slots = { search: make(), bind: make() };
  }

  /** Entries matching `filter`; `truncated` when the server stopped at `query.sizeLimit`. */
  async search(query: SearchQuery): Promise<SearchOutcome> {
    const { base, filter, attributes, scope = 'sub', sizeLimit = 0 } = query;
    return this.withSlot('search', async (client) => {
      try {
        const { searchEntries } = await client.search(base, { scope, filter, attributes: [...attributes], sizeLimit });
        return { entries: searchEntries.map(toLdapEntry), truncated: false };
      } catch (error) {
        // ldapts reports the size limit as an error; the entries are not needed (ambiguity is the answer).
        if (isLdaptsError(error, 'SizeLimitExceededError')) return { entries: [], truncated: true };
        if (isLdaptsError(error, 'NoSuchObjectError') && query.missingBaseIsEmpty) return { entries: [], truncated: false };
        throw error;
      }
    });
  }

  /** Whether `password` is right for `dn`. Empty passwords never reach the server (RFC 4513 5.1.2 unauthenticated bind). */
  async checkBind(dn: string, password: string): Promise<boolean> {
    if (password === '' || dn === '') return false;
    return this.withSlot('bind', async (client) => {
      try {
        await client.bind(dn, password);
        return true;
      } catch (error) {
        if (isLdaptsError(error, 'InvalidCredentialsError')) return false;
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const clients = [...this.slots.search, ...this.slots.bind].flatMap((slot) => (slot.client ? [slot.client] : []));
    for (const slot of [...this.slots.search, ...this.slots.bind]) slot.client = null;
    await Promise.all(clients.map((client) => client.unbind().catch(() => {})));
    for (const purpose of ['search', 'bind'] as const) for (const wake of this.waiters[purpose].splice(0)) wake();
  }

  private async withSlot<T>(purpose: Purpose, operation: (client: Client) => Promise<T>): Promise<T> {
    const slot = await this.acquire(purpose);
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const client = await this.connected(slot, purpose);
          return await operation(client);
        } catch (error) {
          if (error instanceof DirectoryUnavailableError) throw error;
          if (isAnswerFromServer(error)) throw unavailable(`LDAP server refused the request: ${describe(error)}`, error);
          this.discard(slot);
          if (attempt >= 2 || this.closed) throw unavailable(`LDAP server unreachable: ${describe(error)}`, error);
          this.options.log.warn({ url: slot.url, err: describe(error) }, 'LDAP connection lost; reconnecting');
        }
      }
    } finally {
      this.release(slot, purpose);
    }
  }

  /**
   * The slot's client, connected, upgraded and (for searches) bound. A connection that dropped
   * while idle is replaced: ldapts would reconnect by itself, but without TLS and bind state.
   */
  private async connected(slot: Slot, purpose: Purpose): Promise<Client> {
    if (this.closed) throw new DirectoryUnavailableError('directory is closed');
    if (slot.client?.isConnected) return slot.client;
    this.discard(slot);
    const { Client } = await loadLdapts();
    const failures: string[] = [];
    for (const url of this.options.urls) {
      const ldaps = url.toLowerCase().startsWith('ldaps://');
      // ldapts opens TLS from the first byte whenever tlsOptions is given: only pass it for ldaps://.
      const client = new Client({
        url,
        connectTimeout: this.options.connectTimeoutMs,
        timeout: this.options.timeoutMs,
        ...(ldaps ? { tlsOptions: this.options.tls } : {}),
      });
      try {
        if (this.options.starttls && !ldaps) await client.startTLS(this.options.tls);
        if (purpose === 'search' && this.options.bindDn) await this.serviceBind(client);
        // An anonymous search slot connects lazily on first use; make sure it can connect now.
        else if (!client.isConnected) await client.search('', { scope: 'base', filter: '(objectClass=*)', attributes: ['1.1'] });
        slot.client = client;
        slot.url = url;
        return client;
      } catch (error) {
        await client.unbind().catch(() => {});
        if (error instanceof DirectoryUnavailableError) throw error;
        failures.push(`${url}: ${describe(error)}`);
      }
    }
    throw unavailable(`no LDAP server answered (${failures.join('; ')})`);
  }

  private async serviceBind(client: Client): Promise<void> {
    try {
      await client.bind(this.options.bindDn!, this.options.bindPassword ?? '');
    } catch (error) {
      if (isLdaptsError(error, 'InvalidCredentialsError')) {
        this.options.log.error({ bindDn: this.options.bindDn }, 'LDAP service bind refused: check bind_dn and the bind password');
        throw unavailable(`LDAP service bind as ${this.options.bindDn} refused (invalid credentials)`, error);
      }
      throw error;
    }
  }

  private discard(slot: Slot): void {
    const client = slot.client;
    slot.client = null;
    client?.unbind().catch(() => {});
  }

  private async acquire(purpose: Purpose): Promise<Slot> {
    for (;;) {
      if (this.closed) throw new DirectoryUnavailableError('directory is closed');
      const free = this.slots[purpose].find((slot) => !slot.busy);
      if (free) {
        free.busy = true;
        return free;
      }
      await new Promise<void>((resolve) => this.waiters[purpose].push(resolve));
    }
  }

  private release(slot: Slot, purpose: Purpose): void {
    slot.busy = false;
    this.waiters[purpose].shift()?.();
  }
}

function toLdapEntry(entry: { dn: string; [name: string]: unknown }): LdapEntry {
  const attributes = new Map<string, string[]>();
  for (const [name, raw] of Object.entries(entry)) {
    if (name === 'dn') continue;
    const values = (Array.isArray(raw) ? raw : [raw]).map((value) => (Buffer.isBuffer(value) ? value.toString('utf8') : String(value)));
    attributes.set(name.toLowerCase(), values);
  }
  return { dn: entry.dn, attributes };
}

/** busy (51) and unavailable (52): the server is shutting down or overloaded; another connection may help. */
const RETRYABLE_RESULT_CODES = new Set([51, 52]);

/** A result code from a live server (e.g. insufficient access): retrying on a new connection will not help. */
function isAnswerFromServer(error: unknown): boolean {
  return isLdaptsError(error, 'ResultCodeError') && !RETRYABLE_RESULT_CODES.has(error.code);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function unavailable(message: string, cause?: unknown): DirectoryUnavailableError {
  return new DirectoryUnavailableError(message, { cause });
}
