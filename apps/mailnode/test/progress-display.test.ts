import { describe, expect, it } from 'vitest';
import { ProgressDisplay } from '../src/progress-display.ts';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { out, stream: { isTTY, write: (text: string) => out.push(text) } as unknown as NodeJS.WriteStream };
}

describe('fetch --once progress', () => {
  it('draws one bar per client on a terminal and redraws in place', () => {
    const { out, stream: tty } = stream(true);
    const display = new ProgressDisplay(tty, ['isp1', 'isp2']);
    display.update('isp1', { total: 4, totalBytes: 4_000_000, done: 4, doneBytes: 4_000_000 });
    display.finish('isp2', 'isp2: ok, 0 messages');
    const text = out.join('');
    expect(text).toContain('isp1             [########################] 4/4 msgs  4.0/4.0 MB');
    expect(text).toContain('\x1b[2A');
    expect(text).toContain('isp2: ok, 0 messages');
  });

  it('prints plain lines without a terminal', () => {
    const { out, stream: pipe } = stream(false);
    const display = new ProgressDisplay(pipe, ['isp1']);
    display.update('isp1', { total: 2, totalBytes: 10, done: 1, doneBytes: 5 });
    display.finish('isp1', 'isp1: ok, 2 messages');
    expect(out).toEqual(['isp1: ok, 2 messages\n']);
  });
});
