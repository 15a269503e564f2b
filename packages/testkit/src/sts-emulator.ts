import { closeServer, listenOnLoopback } from './listen';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { verifySigV4, type AwsCredential } from './aws-sigv4-verify';

/**
 * An AWS STS emulator speaking the real query protocol (form-encoded POST, XML replies) for
 * the two calls credential chains make: AssumeRoleWithWebIdentity (unsigned; checks the web
 * identity token against the ones the test registered) and AssumeRole (SigV4-signed by a known
 * credential; checks ExternalId when the role requires one). Issued temporary credentials are
 * pushed into `issued`, which tests pass as (part of) the Secrets Manager emulator's credential
 * list, so the whole chain is verified end to end.
 */

export interface StsRole {
  arn: string;
  /** web identity tokens accepted for AssumeRoleWithWebIdentity */
  webIdentityTokens?: string[];
  /** required ExternalId for AssumeRole, if any */
  externalId?: string;
}

export interface StsEmulatorOptions {
  roles: StsRole[];
  /** credentials allowed to sign AssumeRole (the caller's base identity) */
  credentials?: AwsCredential[];
  /** credentials issued by the emulator are appended here too (share it with other emulators) */
  issued?: AwsCredential[];
  region?: string;
  /** lifetime of issued credentials (default 3600 s) */
  durationSeconds?: number;
}

export interface StsCall {
  action: string;
  roleArn?: string;
  roleSessionName?: string;
  externalId?: string;
  ok: boolean;
}

export interface StsEmulator {
  endpoint: string;
  port: number;
  /** every credential issued so far (also the shared array when one was given) */
  readonly issued: AwsCredential[];
  /** every request, in order (no tokens or keys recorded) */
  readonly calls: StsCall[];
  close(): Promise<void>;
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function xmlEscape(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml), 'x-amzn-requestid': randomUUID() });
  res.end(xml);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendXml(res, status, `<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code>`
    + `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startStsEmulator(opts: StsEmulatorOptions): Promise<StsEmulator> {
  const issued = opts.issued ?? [];
  const calls: StsCall[] = [];
  const region = opts.region ?? 'us-east-1';
  const duration = opts.durationSeconds ?? 3600;

  function issue(action: 'AssumeRoleWithWebIdentity' | 'AssumeRole', role: StsRole, sessionName: string, extra = ''): string {
    const cred: AwsCredential = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(20).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
    };
    issued.push(cred);
    const expiration = new Date(Date.now() + duration * 1000).toISOString();
    return `<${action}Response xmlns="${NS}"><${action}Result>`
      + `<Credentials><AccessKeyId>${cred.accessKeyId}</AccessKeyId><SecretAccessKey>${xmlEscape(cred.secretAccessKey)}</SecretAccessKey>`
      + `<SessionToken>${xmlEscape(cred.sessionToken!)}</SessionToken><Expiration>${expiration}</Expiration></Credentials>`
      + `<AssumedRoleUser><AssumedRoleId>AROA${randomBytes(6).toString('hex').toUpperCase()}:${xmlEscape(sessionName)}</AssumedRoleId>`
      + `<Arn>${xmlEscape(role.arn.replace(':role/', ':assumed-role/'))}/${xmlEscape(sessionName)}</Arn></AssumedRoleUser>`
      + `${extra}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const params = new URLSearchParams(req.method === 'POST' ? body.toString('utf8') : (req.url ?? '').split('?')[1] ?? '');
    const action = params.get('Action') ?? '';
    const roleArn = params.get('RoleArn') ?? undefined;
    const roleSessionName = params.get('RoleSessionName') ?? undefined;
    const externalId = params.get('ExternalId') ?? undefined;
    const call: StsCall = { action, roleArn, roleSessionName, externalId, ok: false };
    calls.push(call);
    if (params.get('Version') !== '2011-06-15') return sendError(res, 400, 'InvalidAction', 'Could not find operation for version');
    const role = opts.roles.find((r) => r.arn === roleArn);
    if (!roleSessionName || !/^[\w+=,.@-]{2,64}$/.test(roleSessionName)) {
      return sendError(res, 400, 'ValidationError', 'RoleSessionName is missing or invalid');
    }

    if (action === 'AssumeRoleWithWebIdentity') {
      const token = params.get('WebIdentityToken') ?? '';
      if (!role || !(role.webIdentityTokens ?? []).includes(token)) {
        return sendError(res, 400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated by AWS.');
      }
      call.ok = true;
      return sendXml(res, 200, issue('AssumeRoleWithWebIdentity', role, roleSessionName,
        `<SubjectFromWebIdentityToken>system:serviceaccount:portico:gateway</SubjectFromWebIdentityToken>`));
    }

    if (action === 'AssumeRole') {
      const authError = await verifySigV4(
        { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body },
        { credentials: [...(opts.credentials ?? []), ...issued], region, service: 'sts' },
      );
      if (authError) return sendError(res, 403, authError.type, authError.message);
      if (!role) return sendError(res, 403, 'AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
      if (role.externalId !== undefined && role.externalId !== externalId) {
        return sendError(res, 403, 'AccessDenied', `User is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
      }
      call.ok = true;
      return sendXml(res, 200, issue('AssumeRole', role, roleSessionName));
    }
    return sendError(res, 400, 'InvalidAction', `Could not find operation ${action}`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, 500, 'InternalFailure', String((e as Error)?.message ?? e));
    });
  });
  const port = await listenOnLoopback(server);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    issued,
    calls,
    close: () => closeServer(server),
  };
}
