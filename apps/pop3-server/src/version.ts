import { readFileSync } from 'node:fs';

const workspace = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export const VERSION = workspace.version;
/** What CAPA IMPLEMENTATION says. */
export const IMPLEMENTATION = `mailnode-${VERSION}`;
