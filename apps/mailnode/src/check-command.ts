/**
 * `mailnode check` (POPFetch's -test): the config is valid (booting proves it), then each
 * client's recipient is resolved and its server tried once (connect, login, STAT), downloading
 * nothing. Needs no running node. Exit 0 only when every check passed.
 */
import type { ConfigOverrides } from '@mailnode/config';
import type { Transcript } from '@mailnode/logging';
import { Retriever, RETRIEVER_TRANSCRIPT, type CheckResult } from '@mailnode/retriever';
import { bootNode } from './boot.ts';
import { UsageError } from './cli-args.ts';
import { formatBytes, table, truncate } from './control/status-table.ts';

export async function checkCommand(options: { configFile?: string; overrides: ConfigOverrides; ids: string[]; out: (text: string) => void }): Promise<number> {
  const node = await bootNode(options.configFile, options.overrides, { server: false });
  const retriever = node.container.resolve(Retriever);
  try {
    const unknown = options.ids.filter((id) => !retriever.clients.some((client) => client.id === id));
    if (unknown.length) throw new UsageError(`no such retriever client: ${unknown.join(', ')}`);
    options.out(`config: ${node.file}: ok\n\n`);
    if (retriever.clients.length === 0) {
      options.out('no retriever clients configured\n');
      return 0;
    }
    const results = await retriever.check(options.ids);
    options.out(formatCheckReport(results));
    return results.every(passed) ? 0 : 1;
  } finally {
    await retriever.stop();
    await node.directory.close();
    await node.container.resolve<Transcript>(RETRIEVER_TRANSCRIPT).close();
    node.log.flush();
  }
}

export const passed = (result: CheckResult): boolean => result.recip.ok && result.connect.ok && result.login.ok;

export function formatCheckReport(results: readonly CheckResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push('', `${result.id} (${result.server}): ${passed(result) ? 'ok' : 'FAILED'}`);
    const login = result.login.ok && result.login.messages !== undefined
      ? `${result.login.messages} message${result.login.messages === 1 ? '' : 's'}${result.login.bytes !== undefined ? `, ${formatBytes(result.login.bytes)}` : ''}${result.login.detail ? ` (${result.login.detail})` : ''}`
      : result.login.detail;
    const rows = [
      ['recipient', verdict(result.recip.ok), truncate(result.recip.detail, 200)],
      ['connect', verdict(result.connect.ok), truncate(result.connect.detail, 200)],
      ['login', verdict(result.login.ok), truncate(login, 200)],
    ];
    lines.push(...table(['  CHECK', 'RESULT', 'DETAIL'], rows.map(([check, ...rest]) => [`  ${check}`, ...rest] as string[])).slice(1));
  }
  const failed = results.filter((result) => !passed(result)).length;
  lines.push('', `${results.length} client${results.length === 1 ? '' : 's'} checked: ${results.length - failed} passed, ${failed} failed`);
  return `${lines.join('\n').replace(/^\n/, '')}\n`;
}

const verdict = (ok: boolean) => (ok ? 'ok' : 'FAILED');
