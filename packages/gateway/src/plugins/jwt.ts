import { createHmac, createPublicKey, sign, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

/** A JWS compact token split and decoded; signature not checked yet. */
export interface ParsedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header).base64url(payload)`: what the signature covers */
  signingInput: string;
  signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/** Parses a compact JWS; undefined when it is not one (APISIX: `JWT token invalid`). */
export function parseJwt(token: string): ParsedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || parts[0] === '' || parts[1] === '') return undefined;
  const header = decodeJson(parts[0]);
  const payload = decodeJson(parts[1]);
  if (!header || !payload || typeof header.alg !== 'string') return undefined;
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], 'base64url') };
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Public keys parsed once per PEM text; bounded so changing keys cannot grow it forever. */
const publicKeys = new Map<string, KeyObject>();

function publicKey(pem: string): KeyObject {
  let k = publicKeys.get(pem);
  if (!k) {
    if (publicKeys.size >= 256) publicKeys.clear();
    k = createPublicKey(pem);
    publicKeys.set(pem, k);
  }
  return k;
}

/**
 * Checks the signature with the consumer's algorithm. The token's `alg` must be that
 * algorithm: accepting whatever the token names would let an HS256 token "signed" with an
 * RSA public key pass (algorithm confusion), or `none`.
 */
export function verifySignature(jwt: ParsedJwt, algorithm: 'HS256' | 'RS256', key: string | Buffer): boolean {
  if (jwt.header.alg !== algorithm) return false;
  try {
    if (algorithm === 'HS256') {
      const mac = createHmac('sha256', key).update(jwt.signingInput).digest();
      return mac.length === jwt.signature.length && timingSafeEqual(mac, jwt.signature);
    }
    return verify('RSA-SHA256', Buffer.from(jwt.signingInput), publicKey(key.toString()), jwt.signature);
  } catch {
    return false; // unusable key material: fail closed
  }
}

/** `exp` and `nbf` when present (seconds), with the consumer's grace period. */
export function claimsValid(payload: Record<string, unknown>, nowSeconds: number, graceSeconds: number): boolean {
  const { exp, nbf } = payload;
  if (exp !== undefined && (typeof exp !== 'number' || nowSeconds >= exp + graceSeconds)) return false;
  if (nbf !== undefined && (typeof nbf !== 'number' || nowSeconds < nbf - graceSeconds)) return false;
  return true;
}

/** Signs a token (tests, tooling): APISIX's sign side, HS256 or RS256 with a PEM private key. */
export function signJwt(payload: Record<string, unknown>, algorithm: 'HS256' | 'RS256', key: string | Buffer): string {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${enc({ typ: 'JWT', alg: algorithm })}.${enc(payload)}`;
  const sig = algorithm === 'HS256'
    ? createHmac('sha256', key).update(input).digest()
    : sign('RSA-SHA256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}
