/**
 * curl as a POP3 client against a running `node apps/mailnode`: LIST, RETR (byte for byte),
 * DELE, implicit TLS and STLS with certificate verification, every login method curl speaks
 * (APOP, SASL CRAM-MD5, PLAIN, LOGIN, EXTERNAL with a client certificate) and login failures.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MaildirStore } from '@mailnode/maildir';
import { curl, curlTraced, receivedLines, scanListing, sentCommands, uidls } from '../harness/curl-client.ts';
import { describeRun, killAllTools } from '../harness/external-tool.ts';
import { makeTempDir, startMailnode, stopAllMailnodes, type MailnodeProcess } from '../harness/mailnode-process.ts';
import { sampleMessages, wireBytes, wireSize, type SampleMessage } from '../harness/sample-messages.ts';
import { createCa, createClientCert, type ClientCert } from '../harness/test-pki.ts';

const USERS = 'alice:pw-alice\nbob:pw-bob\ncarol:pw-carol\n';

let node: MailnodeProcess;
let store: MaildirStore;
let samples: SampleMessage[];
let aliceCert: ClientCert;
let foreignAliceCert: ClientCert;

/** Plaintext with STLS offered, by address (no certificate check needed). */
const plain = () => `pop3://127.0.0.1:${node.ports.pop3}`;
/** Same listener by name, for STLS with certificate verification (the cert names localhost). */
const stls = () => `pop3://localhost:${node.ports.pop3}`;
const pop3s = () => `pop3s://localhost:${node.ports.pop3s}`;

const expectedListing = (messages: SampleMessage[]) => messages.map((m, i) => [i + 1, String(wireSize(m))]);
const latin1 = (bytes: Buffer) => bytes.toString('latin1');

beforeAll(async () => {
  const pki = await makeTempDir('mailnode-pki-');
  const trusted = await createCa(pki, 'trusted');
  const other = await createCa(pki, 'other');
  aliceCert = await createClientCert(pki, trusted, 'alice');
  foreignAliceCert = await createClientCert(pki, other, 'alice');
  node = await startMailnode({
    users: USERS,
    config: {
      pop3server: {
        listeners: [
          { interface: '127.0.0.1', port: 0, ssl: { latent: 'Y' } },
          { interface: '127.0.0.1', port: 0, ssl: { latent: 'N', client_ca: trusted.certFile } },
        ],
      },
    },
  });
  store = new MaildirStore({ root: node.mailRoot, hostname: 'testdeliver' });
  samples = sampleMessages();
  for (const sample of samples) await store.deliver('alice', sample.bytes, { crlf: sample.crlf });
});

afterEach(() => killAllTools());
afterAll(async () => {
  killAllTools();
  await stopAllMailnodes();
});

describe('curl: LIST, RETR, DELE', () => {
  it('lists the mailbox with the CRLF sizes of the delivered messages', async () => {
    const result = await curl([`${plain()}/`, '-u', 'alice:pw-alice']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(scanListing(result.stdout)).toEqual(expectedListing(samples));
  });

  it('retrieves every message byte for byte (CRLF, dot-stuffing undone)', async () => {
    for (const [i, sample] of samples.entries()) {
      const result = await curl([`${plain()}/${i + 1}`, '-u', 'alice:pw-alice']);
      expect(result.code, `${sample.name}: ${describeRun(result)}`).toBe(0);
      expect(latin1(result.stdoutBytes), sample.name).toBe(latin1(wireBytes(sample)));
    }
  });

  it('deletes with DELE, applied when curl sends QUIT', async () => {
    const bobs = [1, 2, 3].map((n) => Buffer.from(`Subject: bob ${n}\r\nMessage-ID: <bob-${n}@mailnode.test>\r\n\r\nmessage ${n} for bob\r\n`));
    for (const message of bobs) await store.deliver('bob', message);
    const before = await uidls(plain(), 'bob:pw-bob');
    expect(before).toHaveLength(3);

    const dele = await curlTraced(['-X', 'DELE 1', '-I', `${plain()}/`, '-u', 'bob:pw-bob']);
    expect(dele.code, describeRun(dele)).toBe(0);
    expect(sentCommands(dele.stderr)).toContain('DELE 1');
    expect(receivedLines(dele.stderr)).toContain('+OK Message 1 deleted');

    const list = await curl([`${plain()}/`, '-u', 'bob:pw-bob']);
    expect(list.code, describeRun(list)).toBe(0);
    expect(scanListing(list.stdout)).toEqual([
      [1, String(wireSize(bobs[1]!))],
      [2, String(wireSize(bobs[2]!))],
    ]);
    expect(await uidls(plain(), 'bob:pw-bob')).toEqual(before.slice(1));
    const cur = await readdir(join(node.mailRoot, 'bob', 'Maildir', 'cur'));
    expect(cur).toHaveLength(2);
    expect(cur.some((name) => name.startsWith(`${before[0]}`))).toBe(false);
  });
});

describe('curl: TLS', () => {
  it('lists and retrieves over implicit TLS with the certificate verified', async () => {
    const list = await curl(['--cacert', node.certFile, `${pop3s()}/`, '-u', 'alice:pw-alice']);
    expect(list.code, describeRun(list)).toBe(0);
    expect(scanListing(list.stdout)).toEqual(expectedListing(samples));
    const retr = await curl(['--cacert', node.certFile, `${pop3s()}/2`, '-u', 'alice:pw-alice']);
    expect(retr.code, describeRun(retr)).toBe(0);
    expect(latin1(retr.stdoutBytes)).toBe(latin1(wireBytes(samples[1]!)));
  });

  it('fails certificate verification (exit 60) without the node certificate as trust anchor', async () => {
    const result = await curl([`${pop3s()}/`, '-u', 'alice:pw-alice']);
    expect(result.code, describeRun(result)).toBe(60);
    expect(result.stdout).toBe('');
    const stls2 = await curl(['--ssl-reqd', `${stls()}/1`, '-u', 'alice:pw-alice']);
    expect(stls2.code, describeRun(stls2)).toBe(60);
    expect(stls2.stdout).toBe('');
  });

  it('retrieves over STLS (--ssl-reqd) with the certificate verified', async () => {
    const last = samples.length;
    const result = await curlTraced(['--ssl-reqd', '--cacert', node.certFile, `${stls()}/${last}`, '-u', 'alice:pw-alice']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(sentCommands(result.stderr)).toContain('STLS');
    expect(latin1(result.stdoutBytes)).toBe(latin1(wireBytes(samples[last - 1]!)));
  });
});

describe('curl: login methods', () => {
  const methods: Array<[string, RegExp]> = [
    ['+APOP', /^APOP alice [0-9a-f]{32}$/],
    ['CRAM-MD5', /^AUTH CRAM-MD5$/],
    ['LOGIN', /^AUTH LOGIN/],
  ];
  for (const [option, command] of methods) {
    it(`logs in with --login-options AUTH=${option} in plaintext`, async () => {
      const result = await curlTraced(['--login-options', `AUTH=${option}`, `${plain()}/`, '-u', 'alice:pw-alice']);
      expect(result.code, describeRun(result)).toBe(0);
      const sent = sentCommands(result.stderr);
      expect(sent.some((line) => command.test(line)), sent.join('\n')).toBe(true);
      expect(sent.some((line) => /^(USER|PASS) /.test(line))).toBe(false);
      expect(scanListing(result.stdout)).toEqual(expectedListing(samples));
    });
  }

  it('logs in with AUTH=PLAIN after STLS', async () => {
    const result = await curlTraced(['--ssl-reqd', '--cacert', node.certFile, '--login-options', 'AUTH=PLAIN', `${stls()}/`, '-u', 'alice:pw-alice']);
    expect(result.code, describeRun(result)).toBe(0);
    const sent = sentCommands(result.stderr);
    expect(sent).toContain('STLS');
    expect(sent.some((line) => /^AUTH PLAIN/.test(line)), sent.join('\n')).toBe(true);
    expect(scanListing(result.stdout)).toEqual(expectedListing(samples));
  });

  it('does not log in with AUTH=PLAIN in plaintext (PLAIN is not offered before STLS)', async () => {
    const result = await curlTraced(['--login-options', 'AUTH=PLAIN', `${plain()}/`, '-u', 'alice:pw-alice']);
    expect(result.code, describeRun(result)).toBe(67);
    const received = receivedLines(result.stderr);
    const sasl = received.find((line) => line.startsWith('SASL '));
    expect(sasl).toBeDefined();
    expect(sasl!.split(' ')).not.toContain('PLAIN');
    expect(received.some((line) => line.startsWith('+OK Logged in'))).toBe(false);
    expect(result.stdout).toBe('');
  });

  it('logs in with SASL EXTERNAL and a client certificate from the configured CA', async () => {
    const result = await curlTraced([
      '--cert', aliceCert.certFile, '--key', aliceCert.keyFile, '--cacert', node.certFile,
      '--login-options', 'AUTH=EXTERNAL', `${pop3s()}/`, '-u', 'alice:',
    ]);
    expect(result.code, describeRun(result)).toBe(0);
    expect(sentCommands(result.stderr).some((line) => /^AUTH EXTERNAL/.test(line))).toBe(true);
    expect(scanListing(result.stdout)).toEqual(expectedListing(samples));
  });

  it('refuses SASL EXTERNAL for a certificate of another CA, without a certificate, and for another user', async () => {
    const foreign = await curlTraced([
      '--cert', foreignAliceCert.certFile, '--key', foreignAliceCert.keyFile, '--cacert', node.certFile,
      '--login-options', 'AUTH=EXTERNAL', `${pop3s()}/`, '-u', 'alice:',
    ]);
    expect(foreign.code, describeRun(foreign)).toBe(67);
    expect(receivedLines(foreign.stderr).some((line) => line.startsWith('+OK Logged in'))).toBe(false);

    const none = await curl(['--cacert', node.certFile, '--login-options', 'AUTH=EXTERNAL', `${pop3s()}/`, '-u', 'alice:']);
    expect(none.code, describeRun(none)).toBe(67);

    // alice's certificate, but asking to act as bob (curl sends the user name as authzid).
    const other = await curl([
      '--cert', aliceCert.certFile, '--key', aliceCert.keyFile, '--cacert', node.certFile,
      '--login-options', 'AUTH=EXTERNAL', `${pop3s()}/`, '-u', 'bob:',
    ]);
    expect(other.code, describeRun(other)).toBe(67);
  });

  it('fails with exit 67 (login denied) for a wrong password, with every method', async () => {
    for (const args of [
      [`${plain()}/`],
      ['--login-options', 'AUTH=+APOP', `${plain()}/`],
      ['--login-options', 'AUTH=LOGIN', `${plain()}/`],
      ['--cacert', node.certFile, '--login-options', 'AUTH=PLAIN', `${pop3s()}/`],
    ]) {
      const result = await curl([...args, '-u', 'alice:wrong-password']);
      expect(result.code, `${args.join(' ')}: ${describeRun(result)}`).toBe(67);
      expect(result.stdout).toBe('');
    }
    const unknown = await curl([`${plain()}/`, '-u', 'nobody:pw-alice']);
    expect(unknown.code, describeRun(unknown)).toBe(67);
  });
});
