/** Certificate and key for TLS listeners; a self-signed pair is generated on first start when allowed. */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly generated: boolean;
}

export async function loadTlsMaterial(certPath: string, keyPath: string, options: { selfSigned: boolean; hostname: string }): Promise<TlsMaterial> {
  const present = existsSync(certPath) && existsSync(keyPath);
  if (!present) {
    if (!options.selfSigned) throw new Error(`TLS certificate ${certPath} or key ${keyPath} does not exist`);
    await generateSelfSigned(certPath, keyPath, options.hostname);
  }
  const [cert, key] = await Promise.all([readFile(certPath), readFile(keyPath)]);
  return { cert, key, generated: !present };
}

async function generateSelfSigned(certPath: string, keyPath: string, hostname: string): Promise<void> {
  const { generate } = await import('selfsigned');
  const names = [...new Set(['localhost', hostname])];
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keySize: 2048,
    days: 3650,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...names.map((value) => ({ type: 2, value })), { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
    ],
  } as Parameters<typeof generate>[1]);
  for (const path of [certPath, keyPath]) await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(keyPath, pems.private, { mode: 0o600, flag: 'wx' });
  await chmod(keyPath, 0o600);
  await writeFile(certPath, pems.cert, { mode: 0o644, flag: 'wx' });
}

export function secureContextFor(material: TlsMaterial, clientCa?: Buffer): SecureContext {
  return createSecureContext({ cert: material.cert, key: material.key, ca: clientCa, minVersion: 'TLSv1.2' });
}
