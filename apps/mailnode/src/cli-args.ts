/** Command line: a command word, then the node's common settings (they override the config file). */
import { parseArgs } from 'node:util';

/** A mistake on the command line: one line of explanation, no stack trace. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const COMMANDS = ['run', 'fetch', 'poll', 'status', 'stop', 'check', 'passwd', 'help'] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliArgs {
  readonly command: Command;
  readonly config?: string;
  readonly stateDir?: string;
  readonly users?: string;
  readonly pop3: string[];
  readonly pop3s: string[];
  readonly scheme?: string;
  readonly passwordFile?: string;
  readonly version: boolean;
  /** `status --json`: the raw answer instead of tables. */
  readonly json: boolean;
  readonly positionals: string[];
  readonly fetch: FetchArgs;
}

/** `mailnode fetch`: a one-off client on the command line, like fetchmail's options. */
export interface FetchArgs {
  readonly once: boolean;
  readonly server?: string;
  readonly user?: string;
  readonly passwordFile?: string;
  readonly authtypes?: string;
  readonly ssl: boolean;
  readonly stls: boolean;
  readonly ca?: string;
  readonly preserve: boolean;
  readonly recip?: string;
  readonly downloadsDirectory?: string;
}

export const HELP = `Usage: node apps/mailnode [command] [options]

mailnode retrieves mail from remote POP3 mailboxes, stores it in local Maildir
mailboxes and serves it to POP3 clients, all in one process.

Commands:
  run (default)            Start the node: the POP3 server and the retriever's schedule.
  fetch [CLIENT-ID...]     Run the retriever alone. With --once: one download per named client
                           (all when none is named), then exit; the status says whether every
                           client succeeded. A terminal shows a progress bar per client.
  poll [CLIENT-ID...]      Wake the running node: poll the named clients (all when none is
                           named) now; prints each run's result when they are done.
                           Exit 0 when all succeeded, 1 when one failed, 64 for an unknown id.
  status [--json]          The running node's retriever clients (state, last success or
                           error, next run, totals) and POP3 listeners (open sessions).
  stop                     Shut the running node down gracefully (like SIGTERM) and wait
                           until it has exited.
  check [CLIENT-ID...]     Validate the config, resolve each client's recipient, connect and
                           log in to each server once without downloading; print a report.
                           Exit 0 when every check passed. Needs no running node.
  passwd                   Hash a password for the users file (like doveadm pw).
                           Reads the password from --password-file, or from standard input.
  help                     Show this text.

Options:
  --config FILE            Configuration file (YAML or JSON). Default: the embedded
                           config/mailnode.yaml (POP3 on 127.0.0.1:1110 with STLS and
                           127.0.0.1:1995 with implicit TLS, demo users).
  --state-dir DIR          Where mailnode writes: Maildirs, certificates, locks, logs.
  --users FILE             A users file (username:password lines) for the Directory.
  --pop3 ADDR:PORT         POP3 listener with STLS offered (repeatable; replaces the
                           configured listeners).
  --pop3s ADDR:PORT        POP3 listener with implicit TLS (repeatable).
  -s, --scheme SCHEME      passwd: ARGON2ID (default), SHA512-CRYPT, BLF-CRYPT, CRAM-MD5,
                           SSHA512 or PLAIN.
  --password-file FILE     passwd: read the password from this file.
  --json                   status: print the raw JSON answer.
  --version                Print the version.

Fetch options (a one-off client instead of the configured ones, like fetchmail):
  --once                   Run once and exit (otherwise keep polling on the schedule).
  --server HOST[:PORT]     Remote POP3 server (port 110, or 995 with --ssl).
  --user NAME              Login name on the remote server.
  --password-file FILE     File whose first line is the password.
  --authtypes LIST         Login methods tried in turn, e.g. APOP,SASL_PLAIN
                           (USERPASS, APOP, SASL_PLAIN, SASL_LOGIN, SASL_CRAM_MD5, SASL_EXTERNAL).
  --ssl | --stls           Implicit TLS, or STLS after connecting (never falls back to plaintext).
  --ca FILE                CA certificate(s) to verify a private server.
  --preserve               Leave messages on the server (only new ones are fetched next time).
  --recip USER             Deliver into this local user's Maildir.
  --downloads-directory DIR  Save one file per message in DIR instead.
  -h, --help               Show this text.

poll, status and stop talk to the node through its control socket (control.socket,
default <state-dir>/mailnode.sock, owner-only); give them the node's --config / --state-dir.
With no node running they exit 69. Only one node runs per state directory.

Signals: SIGINT and SIGTERM close the listeners, end open sessions without committing
their deletions, and exit 0. See docs/ for the configuration reference and operations.
`;

export function parseCli(argv: readonly string[]): CliArgs {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      'state-dir': { type: 'string' },
      users: { type: 'string' },
      pop3: { type: 'string', multiple: true },
      pop3s: { type: 'string', multiple: true },
      scheme: { type: 'string', short: 's' },
      'password-file': { type: 'string' },
      once: { type: 'boolean' },
      server: { type: 'string' },
      user: { type: 'string' },
      authtypes: { type: 'string' },
      ssl: { type: 'boolean' },
      stls: { type: 'boolean' },
      ca: { type: 'string' },
      preserve: { type: 'boolean' },
      recip: { type: 'string' },
      'downloads-directory': { type: 'string' },
      json: { type: 'boolean' },
      version: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const word = positionals[0] ?? 'run';
  if (!(COMMANDS as readonly string[]).includes(word)) throw new Error(`unknown command '${word}' (try --help)`);
  return {
    command: values.help ? 'help' : (word as Command),
    config: values.config,
    stateDir: values['state-dir'],
    users: values.users,
    pop3: values.pop3 ?? [],
    pop3s: values.pop3s ?? [],
    scheme: values.scheme,
    passwordFile: values['password-file'],
    version: values.version ?? false,
    json: values.json ?? false,
    positionals: positionals.slice(1),
    fetch: {
      once: values.once ?? false,
      server: values.server,
      user: values.user,
      passwordFile: values['password-file'],
      authtypes: values.authtypes,
      ssl: values.ssl ?? false,
      stls: values.stls ?? false,
      ca: values.ca,
      preserve: values.preserve ?? false,
      recip: values.recip,
      downloadsDirectory: values['downloads-directory'],
    },
  };
}
