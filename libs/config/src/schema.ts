/**
 * The mailnode configuration file: YAML (or JSON), Mailismus setting names.
 * Paths may use `${state_dir}`; relative paths are relative to the config file.
 */
import * as z from 'zod';
import { filterTemplateProblem } from './ldap-filter.ts';
import { authTypes, duration, optionalAuthTypes, positiveInt, yesNo } from './schema-types.ts';

const sslSchema = z.strictObject({
  /** Y: connections start in plaintext and switch with STLS. N: implicit TLS from the first byte. */
  latent: yesNo(false),
  /** With latent=Y: no login is accepted before STLS. */
  mandatory: yesNo(false),
  cert: z.string().optional(),
  key: z.string().optional(),
  /** CA bundle for client certificates; when set, clients may present one (SASL EXTERNAL). */
  client_ca: z.string().optional(),
});

const listenerSchema = z.strictObject({
  interface: z.string().min(1).default('0.0.0.0'),
  /** Defaults to 110, or 995 when SSL is not latent. 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).optional(),
  ssl: sslSchema.optional(),
});

/** Every limit a client can run into is named here, with its default. */
const pop3LimitsSchema = z.strictObject({
  /** Longest command line in bytes (RFC 2449 allows 255). */
  line_length: positiveInt(512, 64, 65536),
  /** Unknown, malformed or out-of-state commands before the session is closed. */
  bad_commands: positiveInt(10),
  /** Failed logins before the session is closed. */
  auth_failures: positiveInt(3),
  /** Pause before answering a failed login (slows password guessing). */
  auth_failure_delay: duration('2s'),
  /** Simultaneous connections over all listeners. */
  connections: positiveInt(2000),
  /** Simultaneous connections from one IP address. */
  connections_per_ip: positiveInt(50),
});

const pop3ServerSchema = z.strictObject({
  enabled: yesNo(true),
  greet: z.string().min(1).default('mailnode POP3 Ready'),
  authtypes: authTypes('all'),
  /** Defaults per listener, as the Mailismus manual says (see docs/configuration.md). */
  authtypes_ssl: optionalAuthTypes(),
  transcript: z.string().optional(),
  timeout: duration('2m'),
  expire: z.number().int().min(-1).default(-1),
  outlook_no_nuls: yesNo(false),
  oe_ns_eoh: yesNo(false),
  limits: pop3LimitsSchema.prefault({}),
  listeners: z.array(listenerSchema).min(1).prefault([{}]),
});

const filesDirectorySchema = z.strictObject({
  type: z.literal('files'),
  users: z.string().default('${state_dir}/directory/users'),
  aliases: z.string().default('${state_dir}/directory/aliases'),
  domains: z.string().default('${state_dir}/directory/domains'),
  /** Copy these Directory files into place when they do not exist yet (the demo users). */
  seed_from: z.string().optional(),
  reload_check: duration('1s'),
  verify_cache: z.number().int().min(0).default(1000),
});

/** An LDAP filter template holding `%u`, checked for balanced parentheses at load time. */
function ldapFilter() {
  return z.string().superRefine((value, ctx) => {
    const problem = filterTemplateProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `LDAP filter ${problem}` });
  });
}

const ldapUrl = z.string().regex(/^ldaps?:\/\/[^/\s]+\/?$/i, 'expected ldap://host[:port] or ldaps://host[:port]');

const ldapDirectorySchema = z.strictObject({
  type: z.literal('ldap'),
  /** Tried in order: the first that answers is used (failover). */
  urls: z.array(ldapUrl).min(1),
  /** Upgrade ldap:// connections with StartTLS; never falls back to plaintext. */
  starttls: yesNo(false),
  tls: z
    .strictObject({
      /** CA bundle for a private certificate authority. */
      ca: z.string().optional(),
      /** Certificate verification; N only for testing. */
      verify: yesNo(true),
      servername: z.string().optional(),
    })
    .prefault({}),
  bind_dn: z.string().min(1).optional(),
  bind_password: z.string().optional(),
  bind_password_file: z.string().optional(),
  bind_password_env: z.string().optional(),
  connect_timeout: duration('5s'),
  /** Per operation; a slower answer is an outage ([SYS/TEMP]). */
  timeout: duration('10s'),
  pool_size: positiveInt(4, 1, 64),
  base_dn: z.string().min(1),
  scope: z.enum(['one', 'sub']).default('sub'),
  user_filter: ldapFilter().default('(&(objectClass=inetOrgPerson)(uid=%u))'),
  attributes: z
    .strictObject({
      login: z.string().min(1).default('uid'),
      mail: z.string().min(1).default('mail'),
      mailbox: z.string().min(1).optional(),
      password: z.string().min(1).default('userPassword'),
    })
    .prefault({}),
  /** bind: check passwords by binding as the user. password: read and verify the password attribute. */
  auth: z.enum(['bind', 'password']).default('bind'),
  aliases: z
    .strictObject({
      attributes: z.array(z.string().min(1)).default([]),
      base_dn: z.string().min(1).optional(),
      group_filter: ldapFilter().optional(),
      member_attributes: z.array(z.string().min(1)).default(['member', 'uniqueMember', 'rfc822MailMember']),
    })
    .prefault({}),
  local_domains: z.array(z.string().min(1)).default([]),
  cache: z
    .strictObject({
      positive_ttl: duration('1m'),
      negative_ttl: duration('10s'),
      size: z.number().int().min(0).default(10000),
    })
    .prefault({}),
  verify_cache: z.number().int().min(0).default(1000),
});

const retrieverSslSchema = z.strictObject({
  /** N (default): implicit TLS from the first byte. Y: connect in plaintext, then STLS. */
  latent: yesNo(false),
  /** Accepted for Mailismus compatibility; the retriever ignores it (TLS is never optional once asked for). */
  mandatory: yesNo(false),
  /** CA bundle for servers with a private certificate authority. */
  ca: z.string().optional(),
  /** Client certificate and key (SASL_EXTERNAL). */
  cert: z.string().optional(),
  key: z.string().optional(),
  /** Name checked against the server certificate; defaults to the host of server.address. */
  servername: z.string().optional(),
});

const clientServerSchema = z.strictObject({
  /** host or host:port; port defaults to 110, or 995 for implicit TLS. */
  address: z.string().min(1),
  username: z.string().optional(),
  password: z.string().optional(),
  password_file: z.string().optional(),
  password_env: z.string().optional(),
  /** Tried in turn until one succeeds. */
  authtypes: authTypes('USERPASS | SASL_PLAIN'),
  initrsp: yesNo(false),
});

const smtpSchema = z.strictObject({
  enabled: yesNo(true),
  sender: z.string().min(1),
  /** SMTP (or LMTP) server to inject into. */
  host: z.string().default('127.0.0.1:25'),
  lmtp: yesNo(false),
});

/** A domain-wide (multidrop) mailbox: each message is routed by its envelope recipients. */
const domainwideSchema = z.strictObject({
  /** Header holding the envelope recipients (X-Original-To, Delivered-To, X-Real-To, ...); `*` parses To, Cc and Bcc. */
  header: z.string().min(1).default('X-Original-To'),
  /** Domains whose recipients are ours; empty means the Directory decides. */
  localdomains: z.array(z.string().min(1)).default([]),
  /** POPFetch pf_domain: recipients in other domains are re-addressed to this local domain. */
  domain: z.string().min(1).optional(),
  /** POPFetch pf_dflt_address: gets what cannot be routed (default postmaster). */
  dflt_address: z.string().min(1).optional(),
  /** Duds in a row before the client is deactivated (POPFetch max_duds, at least 1). */
  max_duds: z.number().int().min(1).default(10),
  /** Maildir root for messages that could not be delivered anywhere: `<duds>/<client id>/Maildir`. */
  duds: z.string().default('${state_dir}/duds'),
});

export const retrieverClientSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash and underscore, at most 64'),
  /** The local user (or, in SMTP mode, address) mail goes to; not used by domain-wide clients. */
  recip: z.string().min(1).optional(),
  /** Kept in the config but never polled on schedule (`mailnode poll ID` still runs it). */
  disabled: yesNo(false),
  domainwide: domainwideSchema.optional(),
  freq: duration('5m'),
  runs: z.number().int().min(0).default(0),
  preserve: yesNo(false),
  capa: yesNo(false),
  omitreceivedheader: yesNo(false),
  downloads_directory: z.string().optional(),
  server: clientServerSchema,
  ssl: retrieverSslSchema.optional(),
  smtp: smtpSchema.optional(),
});

/** Retriever limits and tuning, each named and documented in docs/configuration.md. */
const retrieverLimitsSchema = z.strictObject({
  /** Commands in flight when the server offers PIPELINING. */
  pipeline_window: positiveInt(32, 1, 1024),
  /** Group commit: publish, record and DELE after this many messages or bytes. */
  batch_messages: positiveInt(100, 1, 100_000),
  batch_bytes: positiveInt(16 * 1024 * 1024, 1024),
  /** A larger message ends the session: a broken or hostile server. */
  max_message_size: positiveInt(256 * 1024 * 1024, 1024),
  /** Longest reply line accepted from a server. */
  line_length: positiveInt(8192, 512, 1024 * 1024),
  /** Messages written to disk (write + fsync) at once. */
  stage_concurrency: positiveInt(32, 1, 256),
});

const pop3downloadSchema = z
  .strictObject({
    audit: z.string().optional(),
    transcript: z.string().optional(),
    timeout: duration('4m'),
    delay_start: duration('1m'),
    /** Simultaneous retriever connections over all clients (CommuniGate "Processes"); others wait their turn. */
    processes: positiveInt(10, 1, 1000),
    /** After a failed connection to a host, every client on that host pauses this long. */
    delay_failed_host: duration('10m'),
    /** After a failed login or mailbox access, or a link lost mid-session, that client pauses this long. */
    delay_failed_account: duration('15m'),
    /** Poll a "remote" server that is one of mailnode's own POP3 listeners (a mail loop); off by default. */
    allow_self_poll: yesNo(false),
    /** Where each client's record of downloaded UIDLs is kept. */
    uidl_dir: z.string().default('${state_dir}/retriever'),
    limits: retrieverLimitsSchema.prefault({}),
    clients: z.array(retrieverClientSchema).default([]),
  })
  .superRefine((block, ctx) => {
    const seen = new Set<string>();
    block.clients.forEach((client, index) => {
      if (seen.has(client.id)) ctx.addIssue({ code: 'custom', path: ['clients', index, 'id'], message: `duplicate client id '${client.id}'` });
      seen.add(client.id);
      if (client.recip === undefined && !client.domainwide) {
        ctx.addIssue({ code: 'custom', path: ['clients', index, 'recip'], message: 'recip is required (or mark the client domainwide)' });
      }
      if (client.domainwide && (client.downloads_directory || client.smtp?.enabled)) {
        ctx.addIssue({ code: 'custom', path: ['clients', index, 'domainwide'], message: 'a domain-wide client delivers to local Maildirs: drop downloads_directory and smtp' });
      }
      const sources = [client.server.password, client.server.password_file, client.server.password_env].filter((v) => v !== undefined);
      if (sources.length > 1) ctx.addIssue({ code: 'custom', path: ['clients', index, 'server'], message: 'give only one of password, password_file, password_env' });
    });
  });

export const configSchema = z.strictObject({
  state_dir: z.string().min(1).default('state'),
  hostname: z.string().min(1).optional(),
  control: z
    .strictObject({
      /** Unix socket of `mailnode poll`, `status` and `stop`; created owner-only. */
      socket: z.string().default('${state_dir}/mailnode.sock'),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      file: z.string().optional(),
    })
    .prefault({}),
  tls: z
    .strictObject({
      cert: z.string().default('${state_dir}/tls/cert.pem'),
      key: z.string().default('${state_dir}/tls/key.pem'),
      /** Generate a self-signed certificate when cert and key do not exist. */
      self_signed: yesNo(true),
    })
    .prefault({}),
  directory: z.discriminatedUnion('type', [filesDirectorySchema, ldapDirectorySchema]).prefault({ type: 'files' }),
  message_store: z
    .strictObject({
      root: z.string().default('${state_dir}/mail'),
      small_message_bytes: positiveInt(65536, 1024, 16 * 1024 * 1024),
      /** Read small messages on the main thread while that is fast (page cache); N: always the thread pool. */
      sync_io: yesNo(true),
      /** How staged messages reach the disk: syncfs (one per wave of messages) or fsync (one per file). */
      sync_method: z.enum(['syncfs', 'fsync']).default('syncfs'),
    })
    .prefault({}),
  pop3server: pop3ServerSchema.prefault({}),
  pop3download: pop3downloadSchema.prefault({}),
});

export type MailnodeConfig = z.output<typeof configSchema>;
export type Pop3ServerConfig = MailnodeConfig['pop3server'];
export type Pop3ListenerConfig = Pop3ServerConfig['listeners'][number];
export type Pop3Limits = Pop3ServerConfig['limits'];
export type DirectoryConfig = MailnodeConfig['directory'];
export type FilesDirectoryConfig = Extract<DirectoryConfig, { type: 'files' }>;
export type LdapDirectoryConfig = Extract<DirectoryConfig, { type: 'ldap' }>;
export type RetrieverConfig = MailnodeConfig['pop3download'];
export type RetrieverClientConfig = RetrieverConfig['clients'][number];
export type RetrieverLimits = RetrieverConfig['limits'];
