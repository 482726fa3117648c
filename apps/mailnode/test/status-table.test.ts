/** `mailnode status` tables, `mailnode poll` lines and the `mailnode check` report, as text. */
import { describe, expect, it } from 'vitest';
import type { StatusResult } from '../src/control/control-protocol.ts';
import { pollLine } from '../src/control/control-commands.ts';
import { formatBytes, formatStatus, formatTime, table, truncate } from '../src/control/status-table.ts';
import { formatCheckReport } from '../src/check-command.ts';

const now = new Date(2030, 4, 6, 12, 0, 0);
const iso = (hours: number, minutes: number, seconds = 0, day = 6) => new Date(2030, 4, day, hours, minutes, seconds).toISOString();

describe('status table', () => {
  it('lists clients and listeners in aligned columns', () => {
    const status: StatusResult = {
      pid: 4242,
      version: '1.2.3',
      stateDir: '/srv/state',
      startedAt: iso(11, 0),
      now: now.toISOString(),
      clients: [
        {
          id: 'isp',
          server: 'pop.example.com:995',
          recip: 'alice',
          state: 'waiting',
          lastSuccessAt: iso(11, 55, 3),
          totals: { runs: 12, fetched: 30, bytes: 1_234_567, deleted: 30 },
          nextRunAt: iso(12, 5),
          duds: 0,
        },
        {
          id: 'office-multidrop',
          server: '10.0.0.1:110',
          recip: 'domain-wide',
          state: 'paused',
          pauseReason: 'host',
          pausedUntil: iso(12, 10),
          lastErrorAt: iso(9, 30, 0, 5),
          lastError: 'connect: ECONNREFUSED 10.0.0.1:110 while trying very hard\r\nto reach the server',
          totals: { runs: 3, fetched: 0, bytes: 0, deleted: 0 },
          duds: 2,
        },
      ],
      listeners: [
        { address: '127.0.0.1', port: 1110, security: 'latent', sessions: 2 },
        { address: '::1', port: 1995, security: 'implicit', sessions: 0 },
      ],
    };
    const lines = formatStatus(status).split('\n');
    expect(lines[0]).toBe('mailnode 1.2.3, pid 4242, up 1h0m, state dir /srv/state');
    const header = lines[2]!;
    expect(header).toMatch(/^CLIENT +STATE +SERVER +RECIPIENT +LAST SUCCESS +LAST ERROR +NEXT RUN +RUNS +FETCHED +BYTES +DUDS$/);
    const isp = lines[3]!;
    const office = lines[4]!;
    for (const column of ['STATE', 'SERVER', 'LAST SUCCESS', 'NEXT RUN', 'RUNS', 'BYTES', 'DUDS']) {
      const at = header.indexOf(column);
      expect(isp[at - 1], column).toBe(' ');
      expect(isp[at], column).not.toBe(' ');
    }
    expect(isp).toContain('11:55:03');
    expect(isp).toContain('12:05:00');
    expect(isp).toMatch(/12 +30 +1\.2 MB +0$/);
    expect(office).toContain('paused (host)');
    expect(office).toContain('2030-05-05 09:30 connect: ECONNREFUSED 10.0.0.1:110 while trying…');
    expect(office).toContain('12:10:00');
    expect(lines[6]).toBe('LISTENER        SECURITY  SESSIONS');
    expect(lines[7]).toBe('127.0.0.1:1110  latent    2');
    expect(lines[8]).toBe('[::1]:1995      implicit  0');
  });

  it('says when the retriever cannot report, and when nothing is configured', () => {
    const base = { pid: 1, version: '1', stateDir: '/s', startedAt: now.toISOString(), now: now.toISOString(), listeners: [] };
    expect(formatStatus({ ...base, clients: [], clientsError: 'boom' })).toContain('retriever clients: cannot report (boom)');
    const empty = formatStatus({ ...base, clients: [] });
    expect(empty).toContain('retriever clients: none configured');
    expect(empty).toContain('POP3 server: no listeners');
  });

  it('formats times, sizes and long text', () => {
    expect(formatTime(iso(8, 1, 2), now)).toBe('08:01:02');
    expect(formatTime(iso(8, 1, 2, 1), now)).toBe('2030-05-01 08:01');
    expect([0, 999, 1000, 1_500_000, 2_000_000_000].map(formatBytes)).toEqual(['0 B', '999 B', '1.0 kB', '1.5 MB', '2.00 GB']);
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('a\x1b[31m\nb', 10)).toBe('a [31m b');
    expect(table(['A', 'BB'], [['xxx', 'y']])).toEqual(['A    BB', 'xxx  y']);
  });
});

describe('poll lines', () => {
  it('says ok with counts, FAILED with the error, or skipped', () => {
    expect(pollLine({ id: 'isp', ok: true, counts: { fetched: 3, bytes: 12_300, deleted: 3 } })).toBe('isp: ok, 3 messages, 12.3 kB, 3 deleted from the server');
    expect(pollLine({ id: 'isp', ok: true, counts: { fetched: 1, bytes: 10, deleted: 0 } })).toBe('isp: ok, 1 message, 10 B, 0 deleted from the server');
    expect(pollLine({ id: 'bad', ok: false, counts: { fetched: 0, bytes: 0, deleted: 0 }, error: 'login: -ERR [AUTH] no' })).toBe(
      'bad: FAILED: login: -ERR [AUTH] no (0 messages, 0 B, 0 deleted from the server)',
    );
    expect(pollLine({ id: 'me', ok: false, counts: { fetched: 0, bytes: 0, deleted: 0 }, skipped: 'self-poll' })).toBe('me: SKIPPED: self-poll');
  });
});

describe('check report', () => {
  it('shows each check per client and a summary', () => {
    const report = formatCheckReport([
      {
        id: 'good',
        server: '127.0.0.1:110',
        recip: { ok: true, detail: 'alice' },
        connect: { ok: true, detail: 'STLS, TLSv1.3' },
        login: { ok: true, detail: 'USERPASS', messages: 3, bytes: 12_000 },
      },
      {
        id: 'bad',
        server: '127.0.0.1:1',
        recip: { ok: true, detail: 'alice' },
        connect: { ok: false, detail: 'ECONNREFUSED' },
        login: { ok: false, detail: 'not tried' },
      },
    ]);
    expect(report).toBe(
      [
        'good (127.0.0.1:110): ok',
        '  recipient  ok      alice',
        '  connect    ok      STLS, TLSv1.3',
        '  login      ok      3 messages, 12.0 kB (USERPASS)',
        '',
        'bad (127.0.0.1:1): FAILED',
        '  recipient  ok      alice',
        '  connect    FAILED  ECONNREFUSED',
        '  login      FAILED  not tried',
        '',
        '2 clients checked: 1 passed, 1 failed',
        '',
      ].join('\n'),
    );
  });
});
