#!/usr/bin/env node
// `npm run build` (also run by `npm install` and before `npm test`): bundles mailnode's own
// TypeScript (apps/*, libs/*) into apps/mailnode/dist/main.mjs, so `node apps/mailnode` starts
// without compiling on the fly (about 0.3 s less per start). Third-party packages stay external.
// apps/mailnode/main.js uses the bundle only while it is newer than every source file; otherwise
// it runs the sources through tsx, so an edited checkout never runs stale code.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: ['apps/mailnode/src/main.ts'],
  outfile: 'apps/mailnode/dist/main.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // The workspace tsconfig turns on the experimental decorators tsyringe needs.
  tsconfig: 'tsconfig.json',
  sourcemap: 'linked',
  logLevel: 'warning',
  plugins: [
    {
      name: 'third-party-external',
      setup(context) {
        context.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith('@mailnode/') ? undefined : { path: args.path, external: true }));
      },
    },
  ],
});
