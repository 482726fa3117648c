#!/usr/bin/env node
// `node apps/mailnode`: runs the prebuilt bundle (dist/main.mjs, made by `npm run build`, which
// `npm install` and `npm test` run) while it is newer than every source file; otherwise the
// TypeScript sources through tsx's loader, so what runs is always what is checked in. The
// workspace tsconfig is named explicitly: it turns on the decorators tsyringe needs.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bundle = new URL('./dist/main.mjs', import.meta.url);

if (process.env.MAILNODE_FROM_SOURCE !== '1' && bundleIsFresh()) {
  await import(bundle.href);
} else {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: `${root}tsconfig.json` });
  await import('./src/main.ts');
}

/** The bundle exists and no source file (or the tsconfig) changed after it was built. */
function bundleIsFresh() {
  let built;
  try {
    built = statSync(bundle).mtimeMs;
  } catch {
    return false;
  }
  if (statSync(`${root}tsconfig.json`).mtimeMs > built) return false;
  for (const group of ['apps', 'libs']) {
    for (const project of readdirSync(`${root}${group}`)) {
      if (newestIn(`${root}${group}/${project}/src`) > built) return false;
    }
  }
  return true;
}

function newestIn(dir) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}
