/** Is the mailnode under test still up, quiet about errors, and serving a normal session? */
import { expect } from 'vitest';
import { isAlive } from '../harness/proc-stats.ts';
import type { MailnodeProcess } from '../harness/mailnode-process.ts';
import { loginUserPass, Pop3Socket } from './pop3-socket.ts';

/** JSON log lines (stderr) at level error (50) or fatal (60). */
export function errorLogLines(node: MailnodeProcess): string[] {
  return node
    .stderr()
    .split('\n')
    .filter((line) => {
      if (!line.startsWith('{')) return line.trim() !== '';
      try {
        return (JSON.parse(line) as { level?: number }).level! >= 50;
      } catch {
        return true;
      }
    });
}

/** The process is alive and a fresh USER/PASS session gets STAT, a RETR of message 1 (if any), and QUIT. */
export async function expectServesNormally(node: MailnodeProcess, user: string, password: string, port = node.ports.pop3): Promise<void> {
  expect(isAlive(node.pid), 'mailnode process is alive').toBe(true);
  const client = await Pop3Socket.connect(port);
  try {
    expect(await loginUserPass(client, user, password)).toMatch(/^\+OK Logged in/);
    const stat = await client.command('STAT');
    expect(stat).toMatch(/^\+OK \d+ \d+$/);
    if (Number(stat.split(' ')[1]) > 0) {
      expect(await client.command('RETR 1')).toMatch(/^\+OK/);
      expect((await client.multiline()).length).toBeGreaterThan(0);
    }
    expect(await client.command('QUIT')).toMatch(/^\+OK/);
    await client.closed();
  } finally {
    client.destroy();
  }
}
