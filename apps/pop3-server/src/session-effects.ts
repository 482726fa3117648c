/** The session machine's named effects, bound to the Directory and the Message-Store. */
import { fromPromise } from 'xstate';
import type { Directory } from '@mailnode/directory';
import type { MessageStore } from '@mailnode/message-store';
import { okLine } from '@mailnode/pop3-protocol';
import { pop3ServerMachine, type SessionEffects } from '@mailnode/pop3-server-session';

type Effect<K extends keyof SessionEffects> = (input: SessionEffects[K]['input']) => Promise<SessionEffects[K]['output']>;

export function sessionEffects(directory: Directory, store: MessageStore) {
  const verifyCredentials: Effect<'verifyCredentials'> = ({ credentials }) => directory.authenticate(credentials);
  const openMailbox: Effect<'openMailbox'> = async ({ user }) => store.openMailbox(user);
  const sendMessage: Effect<'sendMessage'> = async ({ io, mailbox, index, options }) => {
    const content = await mailbox.read(index);
    const status = options.bodyLines === undefined ? okLine(`${mailbox.messages[index]!.wireSize} octets`) : okLine('Top of message follows');
    await io.sendMessage(status, content, options);
  };
  const commitUpdate: Effect<'commitUpdate'> = ({ mailbox, deleted }) => mailbox.commit(deleted);
  const startTls: Effect<'startTls'> = ({ io }) => io.startTls();
  return { verifyCredentials, openMailbox, sendMessage, commitUpdate, startTls };
}

/** The session machine with its effects provided: built once per server, not per connection. */
export function provideSessionMachine(directory: Directory, store: MessageStore) {
  const effects = sessionEffects(directory, store);
  return pop3ServerMachine.provide({
    actors: {
      verifyCredentials: fromPromise(({ input }) => effects.verifyCredentials(input)),
      openMailbox: fromPromise(({ input }) => effects.openMailbox(input)),
      sendMessage: fromPromise(({ input }) => effects.sendMessage(input)),
      commitUpdate: fromPromise(({ input }) => effects.commitUpdate(input)),
      startTls: fromPromise(({ input }) => effects.startTls(input)),
    },
  });
}

export type ProvidedSessionMachine = ReturnType<typeof provideSessionMachine>;
