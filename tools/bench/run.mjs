#!/usr/bin/env node
// `npm run bench [-- options]`: mailnode's benchmarks against real peers, on loopback.
// Sections are registered in SECTIONS below; each returns rows (mailnode vs a peer, with aims)
// that are printed as one table per section. See tools/bench/README.md.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '../..');
const NOFILE = 20000;

/** name -> loader of a Section (tools/bench/report.ts). Add a section here. */
const SECTIONS = {
  server: async () => (await import('./server-section.ts')).serverSection,
  retriever: async () => (await import('./retriever-section.ts')).retrieverSection,
  ldap: async () => (await import('./ldap-section.ts')).ldapSection,
};

const HELP = `Usage: npm run bench [-- options]

Runs mailnode's benchmarks against real peers on 127.0.0.1 (temp dirs, free ports; every
process started is stopped by PID at the end). Prints one table per section.

Options:
  --only NAME[,NAME]  Sections to run (default: all). Known: ${Object.keys(SECTIONS).join(', ')}
  --quick             Small counts: a smoke run of a few seconds per section
  --json FILE         Also write every measurement as JSON
  --keep              Keep the temp dirs (mail, configs, logs) and print where they are
  --cpu-prof DIR      Run mailnode with --cpu-prof, profiles written to DIR
  -h, --help          This text
`;

function main() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', multiple: true },
      quick: { type: 'boolean', default: false },
      json: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  for (const name of only) {
    if (!(name in SECTIONS)) {
      process.stderr.write(`bench: unknown section '${name}' (known: ${Object.keys(SECTIONS).join(', ')})\n`);
      return 2;
    }
  }
  if (raiseNofile()) return null; // re-executed with a higher limit; that run's status is ours
  return { values, only: only.length ? only : Object.keys(SECTIONS) };
}

/** Re-runs this script under bash with `ulimit -n` raised when the soft limit is low. Returns true if it did. */
function raiseNofile() {
  if (process.env.MAILNODE_BENCH_NOFILE_RAISED) return false;
  const current = Number(spawnSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isFinite(current) && current >= NOFILE) return false;
  const child = spawnSync(
    'bash',
    ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`, process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, MAILNODE_BENCH_NOFILE_RAISED: '1' } },
  );
  process.exitCode = child.status ?? 1;
  return true;
}

async function run({ values, only }) {
  register();
  const { runCleanups } = await import('./cleanup.ts');
  const { formatMachine, formatTable, machineInfo, aimVerdict, ratioOf } = await import('./report.ts');
  const started = Date.now();
  const log = (line) => process.stderr.write(`[bench +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping everything that was started`);
      runCleanups(log).finally(() => process.exit(130));
    });
  }
  const machine = machineInfo();
  const nofile = Number(spawnSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  process.stdout.write(`# mailnode benchmark\n\nmachine: ${formatMachine(machine)}\ncommand: ${command}\nRLIMIT_NOFILE: ${nofile}\n`);
  const ctx = { repoRoot: REPO, quick: values.quick, keep: values.keep, cpuProfDir: values['cpu-prof'] ? resolve(values['cpu-prof']) : undefined, nofile: NOFILE, log };
  const results = [];
  let failed = false;
  for (const name of only) {
    const section = await SECTIONS[name]();
    log(`section ${name}: ${section.description}`);
    const t0 = Date.now();
    try {
      const result = await section.run(ctx);
      const rows = result.rows.map((row) => ({ ...row, aim: row.aim?.text, ratio: ratioOf(row), verdict: aimVerdict(row) || undefined }));
      results.push({ ...result, rows, seconds: Math.round((Date.now() - t0) / 100) / 10 });
      process.stdout.write(`\n## ${result.title}\n\n${formatTable(result)}\n\n${result.notes.map((n) => `- ${n}`).join('\n')}\n`);
      const aims = result.rows.filter((row) => row.aim).map((row) => `  ${row.metric}: ${aimVerdict(row)}`);
      if (aims.length) process.stdout.write(`\nAims:\n${aims.join('\n')}\n`);
    } catch (error) {
      failed = true;
      process.stderr.write(`bench: section ${name} failed: ${error?.stack ?? error}\n`);
    }
  }
  await runCleanups(log);
  const total = (Date.now() - started) / 1000;
  process.stdout.write(`\nTotal: ${total.toFixed(0)} s\n`);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ command, machine, quick: values.quick, totalSeconds: total, sections: results }, null, 1)}\n`);
    log(`wrote ${values.json}`);
  }
  return failed ? 1 : 0;
}

const parsed = main();
if (typeof parsed === 'number') process.exitCode = parsed;
else if (parsed) process.exitCode = await run(parsed);
