/**
 * One login attempt per configured method (Mailismus `authtypes`, tried in turn). A refusal
 * means "try the next method"; a transport failure ends the session.
 */
import { apopDigest, buildCramMd5Response, buildSaslPlain, encodeBase64, decodeBase64Strict, findApopTimestamp } from '@mailnode/pop3-protocol';
import type { AuthType } from '@mailnode/config';
import { expectOk } from './commands.ts';
import { Pop3ReplyError } from './errors.ts';
import type { Pop3Transport } from './ports.ts';

export interface LoginCredentials {
  readonly username: string;
  readonly password?: string;
  /** Send the SASL initial response on the AUTH line (RFC 5034). */
  readonly initialResponse: boolean;
}

export type LoginOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly code?: string };

function refused(error: unknown): LoginOutcome {
  if (error instanceof Pop3ReplyError) return { ok: false, reason: error.message, code: error.code };
  throw error;
}

async function challenge(transport: Pop3Transport, command: string): Promise<Buffer> {
  const status = await transport.readStatus();
  if ('continuation' in status) {
    const data = decodeBase64Strict(status.text.trim());
    if (!data) throw new Pop3ReplyError(command, 'server sent a malformed SASL challenge');
    return data;
  }
  throw new Pop3ReplyError(command, status.text, status.code);
}

async function sasl(transport: Pop3Transport, mechanism: string, response: Buffer, initial: boolean): Promise<void> {
  const command = `AUTH ${mechanism}`;
  if (initial) {
    transport.send(`${command} ${response.length ? encodeBase64(response) : '='}`);
  } else {
    transport.send(command);
    await challenge(transport, command);
    transport.send(encodeBase64(response));
  }
  await expectOk(transport, command);
}

export async function attemptLogin(transport: Pop3Transport, method: AuthType, credentials: LoginCredentials, greeting: string): Promise<LoginOutcome> {
  const { username, password = '' } = credentials;
  try {
    switch (method) {
      case 'USERPASS':
        transport.send(`USER ${username}`);
        await expectOk(transport, 'USER');
        transport.send(`PASS ${password}`);
        await expectOk(transport, 'PASS');
        return { ok: true };
      case 'APOP': {
        const timestamp = findApopTimestamp(greeting);
        if (!timestamp) return { ok: false, reason: 'server greeting has no APOP timestamp' };
        transport.send(`APOP ${username} ${apopDigest(timestamp, password)}`);
        await expectOk(transport, 'APOP');
        return { ok: true };
      }
      case 'SASL_PLAIN':
        await sasl(transport, 'PLAIN', buildSaslPlain(username, password), credentials.initialResponse);
        return { ok: true };
      case 'SASL_LOGIN': {
        transport.send('AUTH LOGIN');
        await challenge(transport, 'AUTH LOGIN');
        transport.send(encodeBase64(username));
        await challenge(transport, 'AUTH LOGIN');
        transport.send(encodeBase64(password));
        await expectOk(transport, 'AUTH LOGIN');
        return { ok: true };
      }
      case 'SASL_CRAM_MD5': {
        transport.send('AUTH CRAM-MD5');
        const text = (await challenge(transport, 'AUTH CRAM-MD5')).toString('latin1');
        transport.send(encodeBase64(buildCramMd5Response(username, password, text)));
        await expectOk(transport, 'AUTH CRAM-MD5');
        return { ok: true };
      }
      case 'SASL_EXTERNAL':
        if (!transport.secure || !transport.hasClientCertificate) return { ok: false, reason: 'SASL EXTERNAL needs TLS with a client certificate' };
        await sasl(transport, 'EXTERNAL', Buffer.alloc(0), true);
        return { ok: true };
    }
  } catch (error) {
    return refused(error);
  }
}

/** Is a refusal worth trying the next method for? [SYS/TEMP] and [IN-USE] are not. */
export function isFinalRefusal(outcome: LoginOutcome): boolean {
  return !outcome.ok && (outcome.code === 'SYS/TEMP' || outcome.code === 'IN-USE' || outcome.code === 'LOGIN-DELAY');
}
