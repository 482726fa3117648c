/**
 * `mailnode poll`, `status` and `stop`: find the running node's control socket through the same
 * config (and --config / --state-dir) the node was started with, send one request, print.
 */
import { loadConfig, type ConfigOverrides } from '@mailnode/config';
import type { PollResult } from '@mailnode/retriever';
import { defaultConfigPath } from '../default-config.ts';
import type { ControlRequest, ControlResponse, PollResponse, StatusResult, StopResult } from './control-protocol.ts';
import { NoNodeError, sendControlRequest } from './control-client.ts';
import { formatBytes, formatStatus, truncate } from './status-table.ts';

export interface ControlCommandOptions {
  readonly configFile?: string;
  readonly overrides: ConfigOverrides;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** How long status and stop wait for an answer; a poll waits as long as its downloads take. */
const ANSWER_TIMEOUT_MS = 15_000;
/** How long `mailnode stop` waits for the process to be gone after it said it is stopping. */
const STOP_WAIT_MS = 30_000;

export async function pollCommand(options: ControlCommandOptions, ids: string[]): Promise<number> {
  const response = await ask(options, { command: 'poll', clients: ids });
  if (typeof response === 'number') return response;
  const { results } = response as PollResponse;
  if (results.length === 0) options.err('mailnode poll: no retriever clients configured\n');
  for (const result of results) options.out(`${pollLine(result)}\n`);
  return results.every((result) => result.ok) ? 0 : 1;
}

export async function statusCommand(options: ControlCommandOptions, json: boolean): Promise<number> {
  const response = await ask(options, { command: 'status' }, ANSWER_TIMEOUT_MS);
  if (typeof response === 'number') return response;
  const status = response as StatusResult;
  options.out(json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
  return status.clientsError ? 1 : 0;
}

export async function stopCommand(options: ControlCommandOptions): Promise<number> {
  const response = await ask(options, { command: 'stop' }, ANSWER_TIMEOUT_MS);
  if (typeof response === 'number') return response;
  const { pid } = response as StopResult;
  const deadline = Date.now() + STOP_WAIT_MS;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      options.err(`mailnode: asked mailnode (pid ${pid}) to stop, but it is still running after ${STOP_WAIT_MS / 1000} s\n`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  options.out(`mailnode (pid ${pid}) stopped\n`);
  return 0;
}

export function pollLine(result: PollResult): string {
  const { fetched, bytes, deleted } = result.counts;
  const counts = `${fetched} message${fetched === 1 ? '' : 's'}, ${formatBytes(bytes)}, ${deleted} deleted from the server`;
  if (result.skipped) return `${result.id}: ${result.ok ? 'skipped' : 'SKIPPED'}: ${truncate(result.skipped, 200)}`;
  if (result.ok) return `${result.id}: ok, ${counts}`;
  return `${result.id}: FAILED: ${truncate(result.error ?? 'unknown error', 200)} (${counts})`;
}

/** The result of a request, or the exit status after printing why there is none. */
async function ask(options: ControlCommandOptions, request: ControlRequest, timeoutMs?: number): Promise<unknown> {
  const { config } = loadConfig(options.configFile ?? defaultConfigPath(), options.overrides);
  let response: ControlResponse;
  try {
    response = await sendControlRequest(config.control.socket, request, { timeoutMs });
  } catch (error) {
    options.err(`mailnode: ${(error as Error).message}\n`);
    return error instanceof NoNodeError ? error.exitCode : 1;
  }
  if (response.ok) return response.result;
  options.err(`mailnode: ${response.error}\n`);
  return response.code === 'unknown-client' || response.code === 'bad-request' ? 64 : 1;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
