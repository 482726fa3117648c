/** Entry point of `node apps/mailnode`: parse the command line, run a command, exit cleanly. */
import 'reflect-metadata';
import { ConfigError } from '@mailnode/config';
import { VERSION } from '@mailnode/pop3-server';
import { HELP, parseCli, UsageError } from './cli-args.ts';
import { fetchCommand } from './fetch-command.ts';
import { passwdCommand } from './passwd-command.ts';
import { StartupError } from './boot.ts';
import { runNode } from './run-node.ts';
import { checkCommand } from './check-command.ts';
import { pollCommand, statusCommand, stopCommand, type ControlCommandOptions } from './control/control-commands.ts';

async function main(): Promise<number> {
  let args;
  try {
    args = parseCli(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`mailnode: ${(error as Error).message}\n`);
    return 64; // EX_USAGE
  }
  if (args.version) {
    process.stdout.write(`mailnode ${VERSION}\n`);
    return 0;
  }
  const control: ControlCommandOptions = {
    configFile: args.config,
    overrides: { stateDir: args.stateDir },
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
  switch (args.command) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'passwd':
      process.stdout.write(`${await passwdCommand({ scheme: args.scheme, passwordFile: args.passwordFile, stdin: process.stdin })}\n`);
      return 0;
    case 'fetch':
      return fetchCommand({
        configFile: args.config,
        overrides: { stateDir: args.stateDir, usersFile: args.users },
        args: args.fetch,
        ids: args.positionals,
      });
    case 'poll':
      return pollCommand(control, args.positionals);
    case 'status':
      return statusCommand(control, args.json);
    case 'stop':
      return stopCommand(control);
    case 'check':
      return checkCommand({
        configFile: args.config,
        overrides: { stateDir: args.stateDir, usersFile: args.users },
        ids: args.positionals,
        out: (text) => process.stdout.write(text),
      });
    case 'run':
      await runNode({
        configFile: args.config,
        overrides: { stateDir: args.stateDir, usersFile: args.users, pop3: args.pop3, pop3s: args.pop3s },
        print: (line) => process.stdout.write(`${line}\n`),
      });
      return 0;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof StartupError) {
      process.stderr.write(`mailnode: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    if (error instanceof UsageError) {
      process.stderr.write(`mailnode: ${error.message}\n`);
      process.exit(64); // EX_USAGE
    }
    const address = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? ` (${(error as Error).message})` : '';
    process.stderr.write(`mailnode: ${address ? `cannot listen${address}` : (error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
