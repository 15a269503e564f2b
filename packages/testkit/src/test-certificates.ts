import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** PEM file paths of a throwaway CA, a server certificate for 127.0.0.1/localhost, and a client certificate. */
export interface TestCertificates {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** Removes the directory. */
  remove(): void;
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** Makes certificates with openssl (valid one day) in a fresh temp directory, for TLS tests. */
export function makeTestCertificates(name = 'portico-test'): TestCertificates {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-certs-`));
  const file = (f: string) => path.join(dir, f);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}-ca`,
    '-keyout', file('ca.key'), '-out', file('ca.pem'));
  for (const [who, ext] of [['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], ['client', 'extendedKeyUsage=clientAuth']]) {
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=portico-${who}`, '-keyout', file(`${who}.key`), '-out', file(`${who}.csr`));
    fs.writeFileSync(file(`${who}.ext`), `${ext}\n`);
    openssl('x509', '-req', '-in', file(`${who}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
      '-days', '1', '-extfile', file(`${who}.ext`), '-out', file(`${who}.pem`));
  }
  return {
    dir,
    ca: file('ca.pem'),
    caKey: file('ca.key'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
