/** The session machine's named effects, bound to the Directory and the Message-Store. */
import { fromPromise } from 'xstate';
import type { Directory } from '@mailnode/directory';
import type { MessageStore } from '@mailnode/message-store';
import { pop3ServerMachine, type SessionEffects } from '@mailnode/pop3-server-session';

type Effect<K extends keyof SessionEffects> = (input: SessionEffects[K]['input']) => Promise<SessionEffects[K]['output']>;

export function sessionEffects(directory: Directory, store: MessageStore) {
  const verifyCredentials: Effect<'verifyCredentials'> = ({ credentials }) => directory.authenticate(credentials);
  const openMailbox: Effect<'openMailbox'> = async ({ user }) => store.openMailbox(user);
  const commitUpdate: Effect<'commitUpdate'> = ({ mailbox, deleted }) => mailbox.commit(deleted);
  const startTls: Effect<'startTls'> = ({ io }) => io.startTls();
  return { verifyCredentials, openMailbox, commitUpdate, startTls };
}

/** The session machine with its effects provided: built once per server, not per connection. */
export function provideSessionMachine(directory: Directory, store: MessageStore) {
  const effects = sessionEffects(directory, store);
  return pop3ServerMachine.provide({
    actors: {
      verifyCredentials: fromPromise(({ input }) => effects.verifyCredentials(input)),
      openMailbox: fromPromise(({ input }) => effects.openMailbox(input)),
      commitUpdate: fromPromise(({ input }) => effects.commitUpdate(input)),
      startTls: fromPromise(({ input }) => effects.startTls(input)),
    },
  });
}

export type ProvidedSessionMachine = ReturnType<typeof provideSessionMachine>;
