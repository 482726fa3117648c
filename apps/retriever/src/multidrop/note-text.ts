/**
 * The paragraph the default address receives at the top of its copy. POPFetch adds
 * "informational lines ... stating which recipients have received the message and which have
 * not"; once the envelope header is stripped, this is the only trace of whom the copy was for.
 */

export interface Failure {
  /** The address that went nowhere (a recipient, or an alias's external forward). */
  readonly address: string;
  /** Why, in a few words, for a human. */
  readonly reason: string;
}

export interface NoteFacts {
  /** Recipients that reached at least one local user. */
  readonly delivered: readonly string[];
  readonly failures: readonly Failure[];
  /** '*' mode: addresses came from To/Cc/Bcc, not from an envelope header. */
  readonly onlyKnown: boolean;
}

/** Plain text, LF line endings (addDeliveryNote converts to the message's own). */
export function composeNote(facts: NoteFacts): string {
  return [...headline(facts), ...section('Received it:', facts.delivered), ...section('Did not receive it:', facts.failures.map(describe))].join('\n');
}

function headline({ delivered, failures, onlyKnown }: NoteFacts): string[] {
  const intro = '[mailnode] This copy went to the default address because';
  if (delivered.length === 0 && failures.length === 0) {
    return [intro, onlyKnown ? 'the message has no To, Cc or Bcc address.' : 'no envelope recipient was found in the message.'];
  }
  if (onlyKnown && delivered.length === 0) return [intro, 'none of its To, Cc or Bcc addresses is a local user or alias.'];
  return [intro, 'not every recipient could be reached.'];
}

function section(title: string, entries: readonly string[]): string[] {
  return entries.length === 0 ? [] : [title, ...entries.map((e) => `  ${e}`)];
}

const describe = (failure: Failure) => `${failure.address} (${failure.reason})`;
