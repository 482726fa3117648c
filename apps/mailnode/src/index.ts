export { HELP, parseCli, type CliArgs } from './cli-args.ts';
export { composeNode } from './compose.ts';
export { createDirectory } from './directory-factory.ts';
export { defaultConfigPath } from './default-config.ts';
export { bootNode, StartupError, type BootedNode } from './boot.ts';
export { runNode, type RunOptions } from './run-node.ts';
