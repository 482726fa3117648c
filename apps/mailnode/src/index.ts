export { HELP, parseCli, type CliArgs } from './cli-args.ts';
export { composeNode, createDirectory } from './compose.ts';
export { defaultConfigPath } from './default-config.ts';
export { runNode, StartupError, type RunOptions } from './run-node.ts';
