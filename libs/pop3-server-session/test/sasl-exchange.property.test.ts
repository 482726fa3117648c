/**
 * Hostile-input properties of the server's SASL exchange (RFC 5034): every client line during
 * AUTH is attacker-controlled and arrives before authentication.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildCramMd5Response, buildSaslPlain, cramMd5Digest, encodeBase64 } from '@mailnode/pop3-protocol';
import { continueSasl, startSasl } from '../src/index.ts';
import type { SaslMechanism } from '../src/auth-policy.ts';
import type { SaslState, SaslStep } from '../src/sasl-exchange.ts';

const NUM_RUNS = 300;
const ENV = { challenge: '<1896.697170952@pop.example.org>', clientName: 'client.example.org' };
const MECHANISMS: SaslMechanism[] = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'EXTERNAL'];
const STATES: SaslState[] = [
  { mechanism: 'PLAIN' },
  { mechanism: 'LOGIN' },
  { mechanism: 'LOGIN', username: 'bob' },
  { mechanism: 'CRAM-MD5', challenge: ENV.challenge },
  { mechanism: 'EXTERNAL' },
];

const stateArb = fc.constantFrom(...STATES);
/** NUL-free UTF-8 text (no lone surrogates, so it survives a UTF-8 round trip). */
const field = (minLength: number) => fc.string({ unit: 'binary', minLength, maxLength: 24 }).filter((s) => !s.includes('\0'));
const b64 = (b: Buffer | string) => encodeBase64(b);

/** Client lines: valid base64 of random bytes, near-base64, "*", "=", and raw junk. */
const clientLine: fc.Arbitrary<string> = fc.oneof(
  fc.uint8Array({ maxLength: 60 }).map((a) => b64(Buffer.from(a))),
  fc.string({ unit: fc.constantFrom(...'AQgw+/=*- \t'.split('')), maxLength: 16 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('*', ' * ', '=', '', '==', 'AA==', 'AGJvYgBzZWNyZXQ='),
);

const isMalformed = (step: SaslStep) => step.kind === 'fail' && step.authFailure && /Invalid base64 data or SASL message/.test(step.reply);

/** A valid encoding with one character replaced by / one inserted of a character outside the alphabet. */
const brokenBase64: fc.Arbitrary<string> = fc
  .tuple(
    fc.uint8Array({ minLength: 1, maxLength: 40 }),
    fc.nat(),
    fc.constantFrom('-', '_', '.', '!', '@', '~', 'é', '\0', '"'),
    fc.boolean(),
  )
  .map(([bytes, at, c, insert]) => {
    const s = b64(Buffer.from(bytes));
    const i = at % s.length;
    return insert ? s.slice(0, i) + c + s.slice(i) : s.slice(0, i) + c + s.slice(i + 1);
  });

describe('SASL exchange never throws (property)', () => {
  it('startSasl and continueSasl give a typed step for any line, in any state', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MECHANISMS), stateArb, fc.option(clientLine, { nil: undefined }), clientLine, fc.boolean(), (mech, state, initial, line, cert) => {
        const env = cert ? ENV : { challenge: ENV.challenge };
        for (const step of [startSasl(mech, initial, env), continueSasl(state, line, env)]) {
          expect(['challenge', 'credentials', 'fail']).toContain(step.kind);
          if (step.kind === 'fail') expect(step.reply).toMatch(/^-ERR [^\r\n]*\r\n$/);
          if (step.kind === 'challenge') expect(step.challenge).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
        }
      }),
      { numRuns: NUM_RUNS },
    );
  });
});

describe('SASL exchange responses (property)', () => {
  // RFC 5034: "*" aborts the exchange; it is not a failed login (no auth-failure penalty).
  it('"*" (with optional surrounding blanks) cancels in every state, without counting as an auth failure', () => {
    fc.assert(
      fc.property(stateArb, fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 }), fc.string({ unit: fc.constantFrom(' ', '\t'), maxLength: 3 }), (state, pre, post) => {
        const step = continueSasl(state, `${pre}*${post}`, ENV);
        expect(step).toEqual({ kind: 'fail', reply: '-ERR Authentication cancelled\r\n', authFailure: false });
      }),
      { numRuns: 100 },
    );
  });

  it('invalid base64 is rejected as malformed in every state, never decoded into credentials', () => {
    fc.assert(
      fc.property(stateArb, brokenBase64, (state, line) => {
        expect(isMalformed(continueSasl(state, line, ENV))).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('PLAIN: credentials round-trip for any user / password (authzid empty or equal to the user)', () => {
    fc.assert(
      fc.property(field(1), field(1), fc.boolean(), fc.boolean(), (user, password, withAuthzid, asInitial) => {
        const line = b64(buildSaslPlain(user, password, withAuthzid ? user : ''));
        const step = asInitial ? startSasl('PLAIN', line, ENV) : continueSasl({ mechanism: 'PLAIN' }, line, ENV);
        expect(step).toEqual({ kind: 'credentials', credentials: { mechanism: 'PASSWORD', username: user, password } });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('PLAIN: a foreign authzid fails as an auth failure; a wrong NUL count is malformed', () => {
    fc.assert(
      fc.property(field(1), field(1), field(1), fc.array(field(0), { minLength: 1, maxLength: 5 }), (user, password, authzid, parts) => {
        fc.pre(authzid !== user);
        const foreign = continueSasl({ mechanism: 'PLAIN' }, b64(buildSaslPlain(user, password, authzid)), ENV);
        expect(foreign).toMatchObject({ kind: 'fail', authFailure: true });
        expect(isMalformed(foreign)).toBe(false);
        fc.pre(parts.length !== 3);
        expect(isMalformed(continueSasl({ mechanism: 'PLAIN' }, b64(parts.join('\0')), ENV))).toBe(true);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('LOGIN: username then password round-trip for any UTF-8 values', () => {
    fc.assert(
      fc.property(field(1), field(0), (user, password) => {
        const first = continueSasl({ mechanism: 'LOGIN' }, b64(user), ENV);
        expect(first).toEqual({ kind: 'challenge', state: { mechanism: 'LOGIN', username: user }, challenge: b64('Password:') });
        const second = continueSasl((first as { state: SaslState }).state, b64(password), ENV);
        expect(second).toEqual({ kind: 'credentials', credentials: { mechanism: 'PASSWORD', username: user, password } });
      }),
      { numRuns: NUM_RUNS },
    );
  });

  // parseSaslPlain / parseCramMd5Response use a fatal UTF-8 decoder for exactly this reason.
  // Few distinct bytes, half of them never valid in UTF-8, so near-collisions are common.
  const loginBytes = fc.array(fc.constantFrom(0x61, 0x80, 0xc3, 0xa9, 0xfe, 0xff), { minLength: 1, maxLength: 4 });
  it('LOGIN: distinct byte strings never become the same username or password (invalid UTF-8 is refused)', () => {
    fc.assert(
      fc.property(loginBytes, loginBytes, (a, b) => {
        const A = Buffer.from(a);
        const B = Buffer.from(b);
        fc.pre(!A.equals(B));
        const user = (bytes: Buffer) => {
          const step = continueSasl({ mechanism: 'LOGIN' }, b64(bytes), ENV);
          return step.kind === 'challenge' && step.state.mechanism === 'LOGIN' ? step.state.username : null;
        };
        const password = (bytes: Buffer) => {
          const step = continueSasl({ mechanism: 'LOGIN', username: 'bob' }, b64(bytes), ENV);
          return step.kind === 'credentials' && step.credentials.mechanism === 'PASSWORD' ? step.credentials.password : null;
        };
        const [ua, ub, pa, pb] = [user(A), user(B), password(A), password(B)];
        if (ua !== null) expect(ua).not.toBe(ub);
        if (pa !== null) expect(pa).not.toBe(pb);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('CRAM-MD5: any client response built from user and password gives those credentials with the session challenge', () => {
    fc.assert(
      fc.property(field(1), field(0), (user, password) => {
        const start = startSasl('CRAM-MD5', undefined, ENV);
        expect(start).toEqual({ kind: 'challenge', state: { mechanism: 'CRAM-MD5', challenge: ENV.challenge }, challenge: b64(ENV.challenge) });
        const step = continueSasl({ mechanism: 'CRAM-MD5', challenge: ENV.challenge }, b64(buildCramMd5Response(user, password, ENV.challenge)), ENV);
        expect(step).toEqual({
          kind: 'credentials',
          credentials: { mechanism: 'CRAM-MD5', username: user, challenge: ENV.challenge, digest: cramMd5Digest(password, ENV.challenge) },
        });
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
