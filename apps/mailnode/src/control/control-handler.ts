/** What the running node answers on its control socket: status, poll, stop, ping. */
import type { MailnodeConfig } from '@mailnode/config';
import { VERSION, type ListenerStatus } from '@mailnode/pop3-server';
import type { ClientStatus, PollResult } from '@mailnode/retriever';
import { ControlError, type ControlRequest, type PingResult, type PollResponse, type StatusResult, type StopResult } from './control-protocol.ts';
import type { ControlHandler } from './control-server.ts';

/** The parts of the node the handler needs (Retriever and Pop3Server satisfy them). */
export interface ControlledNode {
  readonly config: MailnodeConfig;
  readonly retriever: {
    readonly clients: readonly { readonly id: string }[];
    status(): ClientStatus[];
    pollNow(ids: readonly string[]): Promise<PollResult[]>;
  };
  readonly server: { status(): ListenerStatus[] };
  /** Begins the same graceful shutdown as SIGTERM (after the answer is on its way). */
  readonly requestStop: () => void;
}

export function controlHandler(node: ControlledNode, startedAt = new Date()): ControlHandler {
  const ping = (): PingResult => ({ pid: process.pid, version: VERSION, stateDir: node.config.state_dir });
  return async (request: ControlRequest) => {
    switch (request.command) {
      case 'ping':
        return ping();
      case 'status':
        return status(node, ping(), startedAt);
      case 'poll':
        return poll(node, request.clients);
      case 'stop': {
        // Answer first: the shutdown closes the control socket.
        setImmediate(node.requestStop);
        return { pid: process.pid } satisfies StopResult;
      }
    }
  };
}

function status(node: ControlledNode, who: PingResult, startedAt: Date): StatusResult {
  const listeners = node.config.pop3server.enabled ? node.server.status() : [];
  const base = { ...who, startedAt: startedAt.toISOString(), now: new Date().toISOString(), listeners };
  try {
    return { ...base, clients: node.retriever.status() };
  } catch (error) {
    // The listeners are still worth showing when the retriever cannot report.
    return { ...base, clients: [], clientsError: (error as Error).message };
  }
}

async function poll(node: ControlledNode, ids: string[]): Promise<PollResponse> {
  const unknown = ids.filter((id) => !node.retriever.clients.some((client) => client.id === id));
  if (unknown.length) throw new ControlError('unknown-client', `no such retriever client: ${unknown.join(', ')}`);
  try {
    return { results: await node.retriever.pollNow(ids) };
  } catch (error) {
    const message = (error as Error).message;
    if (/^no such retriever client/.test(message)) throw new ControlError('unknown-client', message);
    throw error;
  }
}
