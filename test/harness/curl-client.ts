/**
 * curl as a POP3 client (curl's POP3 support: a URL without a message number runs LIST, with one
 * RETR; -X sends a custom command; --login-options AUTH=... picks the login method).
 * curl undoes dot-stuffing and prints message bytes exactly as received, CRLF included.
 */
import { runTool, type ToolResult } from './external-tool.ts';

/**
 * `curl -q -sS -4 ARGS` (-q: ignore any .curlrc; -sS: no progress meter, but errors; -4: a URL
 * naming `localhost`, needed for certificate name checks, only ever reaches 127.0.0.1).
 */
export function curl(args: readonly string[], timeoutMs = 15_000): Promise<ToolResult> {
  return runTool('curl', ['-q', '-sS', '-4', '--max-time', String(Math.ceil(timeoutMs / 1000) - 1), ...args], { timeoutMs });
}

/** `curl -v`: the protocol trace on stderr (lines `> SENT` and `< RECEIVED`). */
export function curlTraced(args: readonly string[], timeoutMs = 15_000): Promise<ToolResult> {
  return curl(['-v', ...args], timeoutMs);
}

/** Commands the client sent, from a `curl -v` trace (`> COMMAND` lines, CR removed). */
export function sentCommands(trace: string): string[] {
  return trace
    .split('\n')
    .filter((line) => line.startsWith('> '))
    .map((line) => line.slice(2).replace(/\r$/, ''));
}

/** Replies and multi-line data the client received, from a `curl -v` trace. */
export function receivedLines(trace: string): string[] {
  return trace
    .split('\n')
    .filter((line) => line.startsWith('< '))
    .map((line) => line.slice(2).replace(/\r$/, ''));
}

/** `n size` lines of a LIST answer (or `n uidl` of UIDL) as [n, value] pairs. */
export function scanListing(output: string): Array<[number, string]> {
  return output
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const match = /^(\d+) (\S+)$/.exec(line);
      if (!match) throw new Error(`not a listing line: ${JSON.stringify(line)}`);
      return [Number(match[1]), match[2]!] as [number, string];
    });
}

/** `curl -X UIDL`: message number → UIDL. */
export async function uidls(baseUrl: string, auth: string, extra: readonly string[] = []): Promise<string[]> {
  const result = await curl([...extra, '-X', 'UIDL', `${baseUrl}/`, '-u', auth]);
  if (result.code !== 0) throw new Error(`curl UIDL failed: exit ${result.code}: ${result.stderr}`);
  return scanListing(result.stdout).map(([, uidl]) => uidl);
}
