import { fileURLToPath } from 'node:url';

/** The embedded configuration that `node apps/mailnode` starts with. */
export function defaultConfigPath(): string {
  return fileURLToPath(new URL('../../../config/mailnode.yaml', import.meta.url));
}
