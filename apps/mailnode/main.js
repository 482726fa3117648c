#!/usr/bin/env node
// `node apps/mailnode`: runs the TypeScript sources through tsx's loader, so what runs is always
// what is checked in (no stale build). The loader is registered before anything else is imported.
import { register } from 'tsx/esm/api';

register();
await import('./src/main.ts');
