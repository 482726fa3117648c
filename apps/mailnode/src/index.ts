export { HELP, parseCli, type CliArgs } from './cli-args.ts';
export { composeNode, createDirectory } from './compose.ts';
export { defaultConfigPath } from './default-config.ts';
export { bootNode, StartupError, type BootedNode } from './boot.ts';
export { runNode, type RunOptions } from './run-node.ts';
