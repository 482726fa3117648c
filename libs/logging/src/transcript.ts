/**
 * The protocol dialogue, one line per command or reply, credentials masked before they get here
 * (see maskCommand). Message bodies are never written, only their status lines.
 */
import { LineLog } from './line-log.ts';

export const TRANSCRIPT = Symbol('Transcript');

export interface Transcript {
  client(session: string, line: string): void;
  server(session: string, line: string): void;
  note(session: string, text: string): void;
  close(): Promise<void>;
}

export class FileTranscript implements Transcript {
  private readonly log: LineLog;
  constructor(template: string) {
    this.log = new LineLog(template);
  }
  client(session: string, line: string): void {
    this.entry(session, 'C:', line);
  }
  server(session: string, line: string): void {
    this.entry(session, 'S:', line);
  }
  note(session: string, text: string): void {
    this.entry(session, '--', text);
  }
  close(): Promise<void> {
    return this.log.close();
  }
  private entry(session: string, dir: string, text: string): void {
    const now = new Date();
    this.log.write(`${now.toISOString()} ${session} ${dir} ${text.replace(/\r?\n$/, '')}`, now);
  }
}

export const NO_TRANSCRIPT: Transcript = { client() {}, server() {}, note() {}, close: async () => {} };

/** Hides what a command line proves: PASS, APOP digests, AUTH initial responses. */
export function maskCommand(line: string): string {
  const match = /^(\S+)(\s+)(.*)$/.exec(line);
  if (!match) return line;
  const verb = match[1]!.toUpperCase();
  if (verb === 'PASS') return `${match[1]} ****`;
  if (verb === 'APOP') return `${match[1]} ${match[3]!.split(/\s+/)[0]} ****`;
  if (verb === 'AUTH') {
    const [mechanism, initial] = match[3]!.split(/\s+/);
    return initial === undefined ? line : `${match[1]} ${mechanism} ****`;
  }
  return line;
}
