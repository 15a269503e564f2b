import { X509Certificate, createPrivateKey } from 'node:crypto';
import { hostSchema, idSchema, isSecretReference, labelsSchema, secretReferenceSchema, timestampSchema } from './common';

/** PEM text, or a reference resolved per node (APISIX `certificate_scheme` / `private_key_schema`). */
const pemSchema = {
  anyOf: [{ type: 'string', minLength: 128, maxLength: 64 * 1024 }, secretReferenceSchema],
};

/**
 * `/ssls/<id>` (APISIX 3.x `schema_def.ssl`). A server certificate needs `cert`, `key` and
 * one of `sni`/`snis`; a client certificate (`type: client`, for mTLS to upstreams) needs
 * `cert` and `key`. `key`/`keys` are encrypted at rest (SPEC §5.6) and never returned.
 */
export const sslSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: idSchema,
    type: { enum: ['server', 'client'] },
    cert: pemSchema,
    key: pemSchema,
    certs: { type: 'array', items: pemSchema },
    keys: { type: 'array', items: pemSchema },
    sni: hostSchema,
    snis: { type: 'array', minItems: 1, items: hostSchema },
    client: {
      type: 'object',
      additionalProperties: false,
      required: ['ca'],
      properties: {
        ca: pemSchema,
        depth: { type: 'integer', minimum: 0 },
        skip_mtls_uri_regex: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
      },
    },
    status: { enum: [0, 1] },
    ssl_protocols: { type: 'array', maxItems: 3, uniqueItems: true, items: { enum: ['TLSv1.1', 'TLSv1.2', 'TLSv1.3'] } },
    validity_start: timestampSchema,
    validity_end: timestampSchema,
    labels: labelsSchema,
    create_time: timestampSchema,
    update_time: timestampSchema,
  },
  // `type` defaults to server: an absent type takes the `then` branch.
  if: { properties: { type: { const: 'server' } } },
  then: { required: ['cert', 'key'], anyOf: [{ required: ['sni'] }, { required: ['snis'] }] },
  else: { required: ['cert', 'key'] },
};

/**
 * What the schema cannot say: the PEM texts must parse and each key must belong to its
 * certificate (APISIX only parses; a mismatched pair would fail every handshake, so Portico
 * refuses it up front). Values that are references are resolved later and not checked.
 * Messages never include PEM content, only OpenSSL's reason.
 */
export function checkSslRules(ssl: Record<string, unknown>): string | undefined {
  if (ssl.sni !== undefined && ssl.snis !== undefined) return 'invalid configuration: only one of sni and snis is allowed';
  const pair = checkPair(ssl.cert as string, ssl.key as string | undefined);
  if (pair) return pair;
  const certs = (ssl.certs as string[] | undefined) ?? [];
  const keys = (ssl.keys as string[] | undefined) ?? [];
  if (certs.length !== keys.length) return 'mismatched number of certs and keys';
  for (let i = 0; i < certs.length; i++) {
    const err = checkPair(certs[i], keys[i]);
    if (err) return `failed to handle cert-key pair[${i + 1}]: ${err}`;
  }
  const client = ssl.client as { ca?: string } | undefined;
  if (client?.ca !== undefined && !isSecretReference(client.ca)) {
    const err = parseCert(client.ca);
    if (err) return `failed to validate client_cert: ${err}`;
  }
  return undefined;
}

function checkPair(cert: string | undefined, key: string | undefined): string | undefined {
  if (cert === undefined || isSecretReference(cert) || isSecretReference(key)) return undefined;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return `failed to parse cert: ${reasonOf(err)}`;
  }
  if (key === undefined) return undefined;
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    return `failed to parse key: ${reasonOf(err)}`;
  }
  return x509.checkPrivateKey(privateKey) ? undefined : 'failed to parse key: the key does not match the certificate';
}

function parseCert(cert: string): string | undefined {
  try {
    new X509Certificate(cert);
    return undefined;
  } catch (err) {
    return `failed to parse cert: ${reasonOf(err)}`;
  }
}

/** OpenSSL's reason text; these never echo the input. */
function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
