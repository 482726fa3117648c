import { describe, expect, it } from 'vitest';
import { ASYNC_AFTER_SLOW_IO_MS, SLOW_CALLS_TO_CLOSE, SLOW_SYNC_METADATA_MS, SLOW_SYNC_READ_MS, SyncIoGate, syncIoGates } from '../src/sync-io-gate.ts';

function busyFor(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

/** A gate on a fake clock; `read(ms)` is a synchronous read that takes `ms`. */
function gateOnFakeClock(enabled = true) {
  let now = 1000;
  const gate = new SyncIoGate(enabled, SLOW_SYNC_READ_MS, () => now);
  return {
    gate,
    read: (ms: number) =>
      gate.timed(() => {
        now += ms;
        return ms;
      }),
    wait: (ms: number) => void (now += ms),
  };
}

describe('SyncIoGate', () => {
  it('stays open while reads are fast', () => {
    const { gate, read } = gateOnFakeClock();
    for (let i = 0; i < 100; i++) read(SLOW_SYNC_READ_MS);
    expect(gate.open).toBe(true);
  });

  it('does not close for slow reads that are not in a row (a descheduled process)', () => {
    const { gate, read } = gateOnFakeClock();
    for (let i = 0; i < 10; i++) {
      for (let slow = 1; slow < SLOW_CALLS_TO_CLOSE; slow++) read(SLOW_SYNC_READ_MS + 1);
      read(0.01);
    }
    expect(gate.open).toBe(true);
  });

  it(`closes after ${SLOW_CALLS_TO_CLOSE} slow reads in a row and reopens ${ASYNC_AFTER_SLOW_IO_MS / 1000} s later`, () => {
    const { gate, read, wait } = gateOnFakeClock();
    for (let i = 0; i < SLOW_CALLS_TO_CLOSE; i++) read(50);
    expect(gate.open).toBe(false);
    wait(ASYNC_AFTER_SLOW_IO_MS - 1);
    expect(gate.open).toBe(false);
    wait(1);
    expect(gate.open).toBe(true);
    // Still slow: closed again after as many slow reads.
    for (let i = 0; i < SLOW_CALLS_TO_CLOSE - 1; i++) read(50);
    expect(gate.open).toBe(true);
    read(50);
    expect(gate.open).toBe(false);
  });

  it('counts a read that throws, and passes its error on', () => {
    const { gate } = gateOnFakeClock();
    expect(() => gate.timed(() => { throw new Error('EIO'); })).toThrow('EIO');
    expect(gate.open).toBe(true);
  });

  it('gives lock files a tighter limit than reads', () => {
    const gates = syncIoGates(true);
    for (let i = 0; i < SLOW_CALLS_TO_CLOSE; i++) gates.metadata.timed(() => busyFor(SLOW_SYNC_METADATA_MS * 1.5));
    expect(gates.metadata.open).toBe(false);
    expect(gates.reads.open).toBe(true);
    expect(syncIoGates(false).reads.open).toBe(false);
  });

  it('is never open when disabled (sync_io: N)', () => {
    const { gate } = gateOnFakeClock(false);
    expect(gate.open).toBe(false);
  });
});
