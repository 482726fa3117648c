/**
 * RSS of the mailnode process under test, sampled from /proc while a test runs: the peak is
 * what a hostile client managed to make the server hold.
 */
import { processMemory } from '../harness/proc-stats.ts';

export const MiB = 1024 * 1024;

/** Current VmRSS of `pid` in bytes; throws when the process is gone. */
export function rssBytes(pid: number): number {
  const mem = processMemory(pid);
  if (!mem) throw new Error(`process ${pid} is gone`);
  return mem.rssKb * 1024;
}

export interface RssWatch {
  /** Highest RSS seen so far, bytes. */
  peak(): number;
  /** Stops sampling; returns the peak. */
  stop(): number;
}

/** Samples the RSS of `pid` every `everyMs` until stop(). */
export function watchRss(pid: number, everyMs = 50): RssWatch {
  let peak = 0;
  const sample = () => {
    const mem = processMemory(pid);
    if (mem) peak = Math.max(peak, mem.rssKb * 1024);
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

export function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}
