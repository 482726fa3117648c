/**
 * The Directory contract: users, aliases and local domains, whichever backend holds them
 * (users file now, LDAP next). The POP3 server and the retriever depend only on this.
 */
export const DIRECTORY = Symbol('Directory');

export interface DirectoryUser {
  /** Login name, as stored (the local part of the address). */
  readonly name: string;
  /** False when the entry has no password: the mailbox receives mail but nobody can log in. */
  readonly canLogin: boolean;
  /** Mailbox location override (LDAP attribute); undefined means the store's default for `name`. */
  readonly mailbox?: string;
}

/** What a client proved, per mechanism. Secrets stay inside the Directory. */
export type Credentials =
  | { readonly mechanism: 'PASSWORD'; readonly username: string; readonly password: string }
  | { readonly mechanism: 'APOP'; readonly username: string; readonly timestamp: string; readonly digest: string }
  | { readonly mechanism: 'CRAM-MD5'; readonly username: string; readonly challenge: string; readonly digest: string }
  | { readonly mechanism: 'EXTERNAL'; readonly username: string };

export type AuthResult =
  | { readonly ok: true; readonly user: DirectoryUser }
  /**
   * bad-credentials: unknown user, wrong secret, or no login allowed.
   * mechanism-unavailable: the stored secret cannot verify this mechanism (APOP/CRAM-MD5 against a hash).
   */
  | { readonly ok: false; readonly reason: 'bad-credentials' | 'mechanism-unavailable' };

export interface Directory {
  /** null when no such user. Throws DirectoryUnavailableError when the backend cannot answer. */
  lookupUser(name: string): Promise<DirectoryUser | null>;
  /** Throws DirectoryUnavailableError when the backend cannot answer (never a false 'bad-credentials'). */
  authenticate(credentials: Credentials): Promise<AuthResult>;
  /** Local recipients an address or alias expands to (recursively, loop-safe); [] when unknown. */
  expandAlias(address: string): Promise<string[]>;
  /** Whether a domain is one of ours (domains file; an empty list means every domain is local). */
  isLocalDomain(domain: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The backend is down, slow or unreadable: a temporary failure ([SYS/TEMP]), never a bad password. */
export class DirectoryUnavailableError extends Error {
  override readonly name = 'DirectoryUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
