/**
 * `mailnode fetch`: the retriever without the POP3 server. `--once` runs each client once and
 * exits with 0 only if every client succeeded; otherwise it polls on the schedule until a signal.
 */
import type { ConfigOverrides } from '@mailnode/config';
import { Retriever, RETRIEVER_TRANSCRIPT } from '@mailnode/retriever';
import type { Transcript } from '@mailnode/logging';
import { bootNode, untilSignal } from './boot.ts';
import type { FetchArgs } from './cli-args.ts';
import { hasOneOffClient, oneOffClient } from './one-off-client.ts';
import { ProgressDisplay } from './progress-display.ts';

export async function fetchCommand(options: { configFile?: string; overrides: ConfigOverrides; args: FetchArgs; ids: string[] }): Promise<number> {
  const oneOff = hasOneOffClient(options.args) ? oneOffClient(options.args) : undefined;
  const node = await bootNode(options.configFile, options.overrides, {
    server: false,
    // The configured clients' UIDL ledgers belong to whichever process holds the state dir: a
    // running node polls them (`mailnode poll`). A one-off client has a ledger of its own.
    singleInstance: !oneOff,
    // A one-off client replaces the configured ones and starts at once.
    adjust: (config) => (oneOff ? { ...config, pop3download: { ...config.pop3download, clients: [oneOff], delay_start: 0 } } : config),
  });
  const retriever = node.container.resolve(Retriever);
  try {
    if (!options.args.once) {
      retriever.start();
      process.stdout.write(`mailnode fetch: polling ${retriever.clients.length} client(s); stop with Ctrl-C\n`);
      await untilSignal();
      await retriever.stop();
      return 0;
    }
    const ids = options.ids.length ? options.ids : retriever.clients.map((client) => client.id);
    if (ids.length === 0) {
      process.stderr.write('mailnode fetch: no retriever clients configured (see pop3download.clients, or give --server)\n');
      return 2;
    }
    const display = new ProgressDisplay(process.stdout, ids);
    const results = await retriever.runOnce(options.ids, (id, progress) => display.update(id, progress));
    let failures = 0;
    for (const [id, output] of results) {
      const result = output.result;
      const counts = result ? `${result.fetched} messages, ${(result.bytes / 1_000_000).toFixed(2)} MB, ${result.deleted} deleted from the server` : 'nothing fetched';
      if (output.ok) display.finish(id, `${id}: ok, ${counts}`);
      else {
        failures++;
        display.finish(id, `${id}: FAILED at ${output.error?.stage}: ${output.error?.message} (${counts})`);
      }
    }
    await retriever.stop();
    return failures ? 1 : 0;
  } finally {
    node.lock?.release();
    await node.directory.close();
    await node.container.resolve<Transcript>(RETRIEVER_TRANSCRIPT).close();
    node.log.flush();
  }
}
