import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expandDatedPath, FileTranscript, LineLog, maskCommand } from '../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mailnode-log-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('dated log files', () => {
  it('expands date tokens', () => {
    expect(expandDatedPath('/l/audit-%Y%m.log', new Date(2026, 0, 5, 7))).toBe('/l/audit-202601.log');
    expect(expandDatedPath('/l/t-%Y-%m-%d-%H.log', new Date(2026, 10, 23, 9))).toBe('/l/t-2026-11-23-09.log');
  });

  it('rotates to a new file when the date changes', async () => {
    const log = new LineLog(join(dir, 'sub', 'audit-%Y%m%d.log'));
    log.write('first', new Date(2026, 10, 23, 23, 59));
    log.write('second', new Date(2026, 10, 24, 0, 1));
    await log.close();
    expect((await readdir(join(dir, 'sub'))).sort()).toEqual(['audit-20261123.log', 'audit-20261124.log']);
    expect(await readFile(join(dir, 'sub', 'audit-20261124.log'), 'utf8')).toBe('second\n');
  });
});

describe('transcripts', () => {
  it('masks what proves identity', () => {
    expect(maskCommand('PASS secret word')).toBe('PASS ****');
    expect(maskCommand('APOP alice 0123456789abcdef0123456789abcdef')).toBe('APOP alice ****');
    expect(maskCommand('AUTH PLAIN AGFsaWNlAHB3')).toBe('AUTH PLAIN ****');
    expect(maskCommand('AUTH CRAM-MD5')).toBe('AUTH CRAM-MD5');
    expect(maskCommand('USER alice')).toBe('USER alice');
  });

  it('writes one line per command or reply', async () => {
    const transcript = new FileTranscript(join(dir, 't.log'));
    transcript.client('s1', 'USER alice');
    transcript.server('s1', '+OK\r\n');
    await transcript.close();
    const lines = (await readFile(join(dir, 't.log'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/ s1 C: USER alice$/);
    expect(lines[1]).toMatch(/ s1 S: \+OK$/);
  });
});
