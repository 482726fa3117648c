/**
 * Resource use of a process tree (a server's PID and all its descendants) from /proc:
 * RSS (VmRSS of /proc/PID/status, which counts shared pages once per process), PSS
 * (smaps_rollup: shared pages split between their users, so the tree's sum is what it really
 * costs), and CPU seconds. Linux only; processes that vanish while being read are skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface TreeMemory {
  /** Sum of VmRSS over the tree, KiB. */
  readonly rssKb: number;
  /** Sum of Pss over the tree, KiB (0 where smaps_rollup cannot be read). */
  readonly pssKb: number;
  readonly processes: number;
}

interface StatFields {
  readonly ppid: number;
  readonly state: string;
  readonly utime: number;
  readonly stime: number;
  readonly cutime: number;
  readonly cstime: number;
}

let clockTicks: number | undefined;

/** USER_HZ (sysconf(_SC_CLK_TCK)); 100 on every mainstream Linux. */
export function clkTck(): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 });
    const n = Number(out.stdout?.trim());
    clockTicks = out.status === 0 && Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** Parsed /proc/PID/stat, or null when the process is gone. */
export function readStat(pid: number): StatFields | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself contain spaces or parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    state: fields[0]!,
    ppid: Number(fields[1]),
    utime: Number(fields[11]),
    stime: Number(fields[12]),
    cutime: Number(fields[13]),
    cstime: Number(fields[14]),
  };
}

/** Whether `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}

/** `root` and all its live descendants (root first). Empty when root is gone. */
export function processTree(root: number): number[] {
  if (readStat(root) === null) return [];
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length > 0 && out.length < 1_000_000) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

function kbField(text: string, field: string): number | undefined {
  const start = text.indexOf(`\n${field}:`);
  const at = start >= 0 ? start + 1 : text.startsWith(`${field}:`) ? 0 : -1;
  if (at < 0) return undefined;
  const match = /^\S+:\s+(\d+)/.exec(text.slice(at, at + 64));
  return match ? Number(match[1]) : undefined;
}

/** RSS and PSS of one process in KiB, or null when it is gone (or a zombie). */
export function processMemory(pid: number): { rssKb: number; pssKb: number } | null {
  let rssKb: number | undefined;
  try {
    rssKb = kbField(readFileSync(`/proc/${pid}/status`, 'latin1'), 'VmRSS');
  } catch {
    return null;
  }
  if (rssKb === undefined) return null;
  let pssKb = 0;
  try {
    pssKb = kbField(readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1'), 'Pss') ?? 0;
  } catch {
    // Not permitted (another user's process without root) or gone meanwhile.
  }
  return { rssKb, pssKb };
}

/** Memory of the whole tree under `root`. */
export function treeMemory(root: number): TreeMemory {
  let rssKb = 0;
  let pssKb = 0;
  let processes = 0;
  for (const pid of processTree(root)) {
    const mem = processMemory(pid);
    if (!mem) continue;
    rssKb += mem.rssKb;
    pssKb += mem.pssKb;
    processes++;
  }
  return { rssKb, pssKb, processes };
}

/**
 * CPU seconds of one live process: the run time of all its threads from
 * /proc/PID/task/TID/schedstat (nanoseconds), or utime+stime (clock ticks, 10 ms) where
 * schedstat is not available. Null when the process is gone.
 */
export function processCpuSeconds(pid: number): number | null {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let ns = 0;
  for (const tid of tasks) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ')[0]);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !existsSync(`/proc/${pid}/task/${tid}`)) continue;
      const stat = readStat(pid);
      return stat ? (stat.utime + stat.stime) / clkTck() : null;
    }
  }
  return ns / 1e9;
}

/**
 * CPU seconds (user + system) of the tree: every live process's own time (nanosecond
 * resolution where the kernel offers schedstat), plus the time of children the tree's
 * processes have already reaped (cutime/cstime, clock ticks), so short-lived workers count too.
 */
export function treeCpuSeconds(root: number): number {
  let seconds = 0;
  for (const pid of processTree(root)) {
    const stat = readStat(pid);
    if (!stat) continue;
    seconds += (processCpuSeconds(pid) ?? (stat.utime + stat.stime) / clkTck()) + (stat.cutime + stat.cstime) / clkTck();
  }
  return seconds;
}

/** The command line of `pid` (NUL-separated arguments joined with spaces), or null when gone. */
export function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ');
  } catch {
    return null;
  }
}
