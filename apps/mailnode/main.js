#!/usr/bin/env node
// `node apps/mailnode`: runs the TypeScript sources through tsx's loader, so what runs is always
// what is checked in (no stale build). The workspace tsconfig is named explicitly: it turns on
// the decorators tsyringe needs, whatever the current directory is.
import { register } from 'tsx/esm/api';

register({ tsconfig: new URL('../../tsconfig.json', import.meta.url).pathname });
await import('./src/main.ts');
