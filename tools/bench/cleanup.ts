/**
 * Everything the benchmark starts registers how to stop it here, so a failure, Ctrl-C or
 * SIGTERM still ends every server by PID (and removes temp dirs).
 */
const tasks = new Map<number, { name: string; run: () => Promise<void> | void }>();
let nextId = 1;

/** Registers a cleanup; returns a function that unregisters it (call after a normal stop). */
export function onCleanup(name: string, run: () => Promise<void> | void): () => void {
  const id = nextId++;
  tasks.set(id, { name, run });
  return () => tasks.delete(id);
}

/** Runs every registered cleanup (newest first), each bounded in time; errors are reported, not thrown. */
export async function runCleanups(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<void> {
  const pending = [...tasks.entries()].reverse();
  tasks.clear();
  for (const [, task] of pending) {
    try {
      await Promise.race([
        Promise.resolve(task.run()),
        new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 20 s')), 20_000).unref()),
      ]);
    } catch (error) {
      log(`cleanup '${task.name}' failed: ${(error as Error).message}`);
    }
  }
}
