/** The Mailismus audit log: one line per downloaded message, for the record. */
import { LineLog } from '@mailnode/logging';

export interface AuditEntry {
  readonly clientId: string;
  readonly server: string;
  readonly uidl: string;
  readonly bytes: number;
  readonly messageId?: string;
  readonly destination: string;
}

export class AuditLog {
  private readonly log: LineLog | undefined;

  constructor(template: string | undefined) {
    this.log = template ? new LineLog(template) : undefined;
  }

  /** Whether lines are written at all (an `audit` file is configured). */
  get enabled(): boolean {
    return this.log !== undefined;
  }

  write(entry: AuditEntry): void {
    if (!this.log) return;
    const now = new Date();
    const fields = [now.toISOString(), entry.clientId, entry.server, entry.uidl, String(entry.bytes), entry.messageId ?? '-', entry.destination];
    this.log.write(fields.map((field) => field.replace(/\s+/g, '_')).join(' '), now);
  }

  close(): Promise<void> {
    return this.log?.close() ?? Promise.resolve();
  }
}
