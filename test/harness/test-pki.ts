/**
 * A throw-away PKI made with the openssl CLI: a CA and client certificates it signs (for TLS
 * client authentication / SASL EXTERNAL). EC P-256 keys keep generation fast.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describeRun, runTool } from './external-tool.ts';

export interface TestCa {
  readonly name: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ClientCert {
  readonly certFile: string;
  readonly keyFile: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const result = await runTool('openssl', args, { cwd, timeoutMs: 15_000 });
  if (result.code !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${describeRun(result)}`);
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed CA certificate `<dir>/<name>.pem` with key `<dir>/<name>.key`. */
export async function createCa(dir: string, name: string): Promise<TestCa> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  await openssl(['req', '-x509', ...EC_KEY, '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=mailnode test CA ${name}`], dir);
  return { name, certFile, keyFile };
}

/** A client certificate with the given Common Name, signed by `ca`. */
export async function createClientCert(dir: string, ca: TestCa, commonName: string): Promise<ClientCert> {
  const base = join(dir, `${ca.name}-${commonName}`);
  const ext = `${base}.ext`;
  await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  await openssl(['req', ...EC_KEY, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${commonName}`], dir);
  await openssl(
    ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', `${base}.pem`, '-days', '2', '-extfile', ext],
    dir,
  );
  return { certFile: `${base}.pem`, keyFile: `${base}.key` };
}
