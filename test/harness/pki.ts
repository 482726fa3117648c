/**
 * Test certificates made with the openssl CLI: a self-signed server certificate (its own CA),
 * and a small PKI (a CA, server and client certificates signed by it) for client-certificate
 * logins (SASL EXTERNAL). Keys are unencrypted and live in the caller's (temp) directory.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface TestPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  /** A client certificate (extendedKeyUsage clientAuth) with subject CN=`cn`, signed by the CA. */
  clientCert(cn: string): Promise<CertFiles>;
  /** A server certificate signed by the CA for the given DNS names / IP addresses. */
  serverCert(cn?: string, sans?: readonly string[]): Promise<CertFiles>;
}

const OPENSSL_TIMEOUT_MS = 30_000;

export function openssl(args: readonly string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('openssl', args, { cwd, timeout: OPENSSL_TIMEOUT_MS, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) reject(new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
  });
}

function sanList(sans: readonly string[]): string {
  return sans.map((s) => (/^[0-9.]+$/.test(s) || s.includes(':') ? `IP:${s}` : `DNS:${s}`)).join(',');
}

function safeName(cn: string): string {
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(cn)) throw new Error(`unsupported CN for a test certificate: ${JSON.stringify(cn)}`);
  return cn;
}

/** Self-signed server certificate (CN=localhost, SAN localhost + 127.0.0.1 by default); it is its own CA file. */
export async function selfSignedCert(dir: string, options: { cn?: string; sans?: readonly string[]; name?: string } = {}): Promise<CertFiles> {
  await mkdir(dir, { recursive: true });
  const name = options.name ?? 'server';
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}-key.pem`);
  const cn = safeName(options.cn ?? 'localhost');
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-sha256',
    '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=${sanList(options.sans ?? ['localhost', '127.0.0.1'])}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign',
    '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', key, '-out', cert,
  ]);
  return { cert, key };
}

/** A CA plus on-demand leaf certificates signed by it, all under `dir`. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  await mkdir(dir, { recursive: true });
  const caCert = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  await openssl([
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '3650', '-sha256',
    '-subj', '/CN=mailnode test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', caKey, '-out', caCert,
  ]);
  let serial = 1;
  const sign = async (name: string, cn: string, extensions: string): Promise<CertFiles> => {
    const key = join(dir, `${name}-key.pem`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    const ext = join(dir, `${name}.ext`);
    await writeFile(ext, extensions);
    await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
    await openssl([
      'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(++serial),
      '-days', '3650', '-sha256', '-extfile', ext, '-out', cert,
    ]);
    return { cert, key };
  };
  return {
    dir,
    caCert,
    caKey,
    clientCert: (cn) =>
      sign(`client-${safeName(cn)}`, cn, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'),
    serverCert: (cn = 'localhost', sans = ['localhost', '127.0.0.1']) =>
      sign(
        `server-${safeName(cn)}`,
        cn,
        `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sanList(sans)}\n`,
      ),
  };
}
