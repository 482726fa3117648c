import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { regularFileNames, regularFileNamesNow } from './directory-entries.ts';
import { curFileName, deliveryTime, parseMaildirName, withSizes } from './filename.ts';
import { isMissing } from './io-error.ts';
import { measureFile } from './measure.ts';
import type { MaildirLogger } from './options.ts';
import type { SyncIoGate } from './sync-io-gate.ts';
import { uidlFor } from './uidl.ts';
import type { MaildirPaths } from './user-path.ts';

/** One message of cur/ as a session sees it. `name` is updated when the file is found renamed. */
export interface ListedMessage {
  name: string;
  readonly unique: string;
  readonly uidl: string;
  readonly size: number;
  readonly wireSize: number;
}

/**
 * Moves new/ into cur/ and lists cur/ in delivery order. Must run under the mailbox lock.
 * Throws ENOENT errors when new/ or cur/ is missing so the caller can create them.
 */
export async function scanMailbox(paths: MaildirPaths, log: MaildirLogger, gate: SyncIoGate): Promise<ListedMessage[]> {
  // Both listings at once: the usual login finds new/ empty and pays one round trip, not two.
  const [fresh, current] = (gate.open ? gate.timed(() => listNow(paths)) : undefined) ?? (await Promise.all([regularFileNames(paths.new), regularFileNames(paths.cur)]));
  const names = fresh.length === 0 ? current : [...new Set([...current, ...(await moveNewToCur(paths, fresh))])];
  const listed: Array<ListedMessage & { readonly seconds: number; readonly micros: number }> = [];
  const seen = new Set<string>();
  for (const name of names) {
    const parsed = parseMaildirName(name);
    if (seen.has(parsed.unique)) {
      // Two names for one message (e.g. a crashed flag change in another MUA): serve it once.
      log.warn({ dir: paths.cur, name }, 'duplicate Maildir unique name ignored');
      continue;
    }
    seen.add(parsed.unique);
    let { size, wireSize } = parsed;
    if (size === undefined || wireSize === undefined) {
      try {
        ({ size, wireSize } = await measureFile(join(paths.cur, name)));
      } catch (error) {
        if (isMissing(error)) continue;
        throw error;
      }
    }
    const { seconds, micros } = deliveryTime(parsed.unique);
    listed.push({ name, unique: parsed.unique, uidl: uidlFor(parsed.unique), size, wireSize, seconds, micros });
  }
  listed.sort((a, b) => a.seconds - b.seconds || a.micros - b.micros || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return listed.map(({ name, unique, uidl, size, wireSize }) => ({ name, unique, uidl, size, wireSize }));
}

function listNow(paths: MaildirPaths): [string[], string[]] | undefined {
  const fresh = regularFileNamesNow(paths.new);
  const current = fresh && regularFileNamesNow(paths.cur);
  return fresh && current ? [fresh, current] : undefined;
}

/**
 * Every regular file of new/ goes to cur/ with an info part, gaining `,S=` and `,W=` if its
 * deliverer (procmail, an LDA, a manual copy) did not write them, so later listings need no I/O.
 * Returns the names now in cur/.
 */
async function moveNewToCur(paths: MaildirPaths, names: readonly string[]): Promise<string[]> {
  const moved = await Promise.all(
    names.map(async (name): Promise<string | undefined> => {
      const from = join(paths.new, name);
      const parsed = parseMaildirName(name);
      const colon = name.indexOf(':');
      let base = colon < 0 ? name : name.slice(0, colon);
      try {
        if (parsed.size === undefined || parsed.wireSize === undefined) {
          const measured = await measureFile(from);
          base = withSizes(base, measured.size, measured.wireSize);
        }
        const target = parsed.flags !== undefined ? `${base}:2,${parsed.flags}` : curFileName(base);
        await rename(from, join(paths.cur, target));
        return target;
      } catch (error) {
        // Another program took it meanwhile.
        if (!isMissing(error)) throw error;
        return undefined;
      }
    }),
  );
  return moved.filter((name): name is string => name !== undefined);
}
