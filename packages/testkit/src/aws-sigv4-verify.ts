import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { HttpRequest } from '@smithy/types';
import { AwsSha256 } from './aws-sha256';

export interface AwsCredential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (`req.url`). */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An AWS error reply: `type` goes to `__type` and `x-amzn-ErrorType`. */
export interface AwsErrorReply {
  status: number;
  type: string;
  message: string;
}

export interface VerifyOptions {
  credentials: AwsCredential[];
  region: string;
  service: string;
  now?: () => number;
  /** AWS rejects requests whose x-amz-date is further than this from its clock (5 min). */
  maxSkewMs?: number;
}

const SIGNATURE_MISMATCH = 'The request signature we calculated does not match the signature you provided. '
  + 'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
const INVALID_TOKEN = 'The security token included in the request is invalid.';

const AUTH_PATTERN = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/;

function reject(type: string, message: string): AwsErrorReply {
  return { status: 400, type, message };
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** `20240102T030405Z` → Date, or undefined when malformed. */
function parseAmzDate(s: string | undefined): Date | undefined {
  const m = s?.match(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, se));
}

function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(search)) {
    const prev = query[k];
    query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return query;
}

/**
 * Verifies an AWS Signature Version 4 `Authorization` header the way AWS does: find the
 * credential by access key, rebuild the canonical request from the headers the client says it
 * signed, sign it again with the known secret and compare. Returns undefined when the request
 * is authentic, otherwise the error AWS would answer with.
 */
export async function verifySigV4(req: SignedRequest, opts: VerifyOptions): Promise<AwsErrorReply | undefined> {
  const auth = header(req.headers, 'authorization');
  if (!auth) return reject('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const m = auth.match(AUTH_PATTERN);
  if (!m) return reject('IncompleteSignatureException', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.`);
  const [, credentialField, signedHeadersField, signature] = m;

  const [accessKeyId, shortDate, scopeRegion, scopeService, terminator, ...extra] = credentialField.split('/');
  if (!terminator || terminator !== 'aws4_request' || extra.length > 0) {
    return reject('IncompleteSignatureException', 'Credential must have exactly 5 slash-delimited elements.');
  }
  const credential = opts.credentials.find((c) => c.accessKeyId === accessKeyId);
  if (!credential) return reject('UnrecognizedClientException', INVALID_TOKEN);
  // A temporary credential is only valid together with its session token (and vice versa).
  if ((credential.sessionToken ?? '') !== (header(req.headers, 'x-amz-security-token') ?? '')) {
    return reject('UnrecognizedClientException', INVALID_TOKEN);
  }
  if (scopeService !== opts.service) {
    return reject('InvalidSignatureException', `Credential should be scoped to correct service: '${opts.service}'.`);
  }
  if (scopeRegion !== opts.region) {
    return reject('InvalidSignatureException', `Credential should be scoped to a valid region. `);
  }

  const amzDate = header(req.headers, 'x-amz-date');
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate || !amzDate!.startsWith(shortDate)) {
    return reject('IncompleteSignatureException', 'Date must be in ISO-8601 \'basic format\' and match the credential scope.');
  }
  const now = (opts.now ?? Date.now)();
  if (Math.abs(now - signingDate.getTime()) > (opts.maxSkewMs ?? 5 * 60_000)) {
    return reject('InvalidSignatureException', `Signature expired: ${amzDate} is now earlier or later than the allowed window.`);
  }

  // The signer trusts a x-amz-content-sha256 header as the payload hash, so check it is honest.
  const claimedHash = header(req.headers, 'x-amz-content-sha256');
  if (claimedHash !== undefined && claimedHash !== 'UNSIGNED-PAYLOAD') {
    const h = new AwsSha256();
    h.update(req.body);
    if (Buffer.from(await h.digest()).toString('hex') !== claimedHash) {
      return reject('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
    }
  }

  // Rebuild the request from exactly the headers the client signed.
  const signedHeaders = signedHeadersField.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const v = header(req.headers, name);
    if (v === undefined) return reject('InvalidSignatureException', SIGNATURE_MISMATCH);
    headers[name] = v;
  }
  const url = new URL(req.url, 'http://placeholder');
  const request: HttpRequest = {
    method: req.method,
    protocol: 'http:',
    hostname: headers.host ?? 'localhost',
    path: decodeURIComponent(url.pathname),
    query: parseQuery(url.search),
    headers,
    body: req.body,
  };
  const signer = new SignatureV4({
    credentials: credential,
    region: scopeRegion,
    service: scopeService,
    sha256: AwsSha256,
    // The request already carries every header the client signed; adding a checksum header
    // here would change the canonical request.
    applyChecksum: false,
  });
  const signed = await signer.sign(request, {
    signingDate,
    signingRegion: scopeRegion,
    signingService: scopeService,
    signableHeaders: new Set(signedHeaders),
  });
  const expected = String(signed.headers.authorization ?? '').match(/Signature=([0-9a-f]{64})$/)?.[1] ?? '';
  if (expected.length !== signature.length
    || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
    return reject('InvalidSignatureException', SIGNATURE_MISMATCH);
  }
  return undefined;
}
