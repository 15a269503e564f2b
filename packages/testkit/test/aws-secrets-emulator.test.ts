process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { createHash } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { startAwsSecretsEmulator, type AwsSecretsEmulator } from '../src/aws-secrets-emulator';

const GOOD = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const TEMP = { accessKeyId: 'ASIATEMP', secretAccessKey: 'temp-secret', sessionToken: 'session-token-1' };

describe('AWS Secrets Manager emulator (real SDK over HTTP)', () => {
  let emu: AwsSecretsEmulator;
  const clients: SecretsManagerClient[] = [];

  function client(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = GOOD,
    extra: { region?: string; maxAttempts?: number } = {}): SecretsManagerClient {
    const c = new SecretsManagerClient({
      endpoint: emu.endpoint,
      region: extra.region ?? 'us-east-1',
      credentials,
      maxAttempts: extra.maxAttempts ?? 1,
    });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    emu = await startAwsSecretsEmulator({ credentials: [GOOD, TEMP] });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await emu.close();
  });

  it('answers GetSecretValue with the real response shape', async () => {
    const versionId = emu.putSecret('apisix-secrets/jack', { key: 'jack-key' });
    const out = await client().send(new GetSecretValueCommand({ SecretId: 'apisix-secrets/jack' }));
    expect(out.Name).toBe('apisix-secrets/jack');
    expect(out.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:\d{12}:secret:apisix-secrets\/jack-[A-Za-z0-9]{6}$/);
    expect(out.VersionId).toBe(versionId);
    expect(JSON.parse(out.SecretString!)).toEqual({ key: 'jack-key' });
    expect(out.VersionStages).toEqual(['AWSCURRENT']);
    // The SDK turns the epoch-seconds number into a Date: proves the wire type is right.
    expect(out.CreatedDate).toBeInstanceOf(Date);
    expect(Math.abs(out.CreatedDate!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(emu.calls.byTarget.GetSecretValue).toBe(1);
    expect(emu.callsFor('apisix-secrets/jack')).toBe(1);
  });

  it('accepts the ARN as SecretId', async () => {
    emu.putSecret('by-arn', 'v1');
    const first = await client().send(new GetSecretValueCommand({ SecretId: 'by-arn' }));
    const again = await client().send(new GetSecretValueCommand({ SecretId: first.ARN }));
    expect(again.SecretString).toBe('v1');
    expect(emu.callsFor('by-arn')).toBe(2);
  });

  it('CreateSecret and PutSecretValue move AWSCURRENT and AWSPREVIOUS', async () => {
    const c = client();
    const created = await c.send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'one' }));
    const put = await c.send(new PutSecretValueCommand({ SecretId: 'rotating', SecretString: 'two' }));
    expect(put.VersionStages).toEqual(['AWSCURRENT']);
    expect(put.VersionId).not.toBe(created.VersionId);

    const current = await c.send(new GetSecretValueCommand({ SecretId: 'rotating' }));
    expect(current.SecretString).toBe('two');
    const previous = await c.send(new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }));
    expect(previous.SecretString).toBe('one');
    expect(previous.VersionId).toBe(created.VersionId);
    const byId = await c.send(new GetSecretValueCommand({ SecretId: 'rotating', VersionId: created.VersionId }));
    expect(byId.VersionStages).toEqual(['AWSPREVIOUS']);

    // A third version pushes the first out of every stage, but it stays reachable by id.
    emu.putSecret('rotating', 'three');
    const first = await c.send(new GetSecretValueCommand({ SecretId: 'rotating', VersionId: created.VersionId }));
    expect(first.VersionStages).toEqual([]);
    const prev = await c.send(new GetSecretValueCommand({ SecretId: 'rotating', VersionStage: 'AWSPREVIOUS' }));
    expect(prev.SecretString).toBe('two');

    await expect(c.send(new CreateSecretCommand({ Name: 'rotating', SecretString: 'x' })))
      .rejects.toMatchObject({ name: 'ResourceExistsException' });
  });

  it('UpdateSecretVersionStage rolls AWSCURRENT back', async () => {
    const c = client();
    const v1 = emu.putSecret('rollback', 'one');
    const v2 = emu.putSecret('rollback', 'two');
    await c.send(new UpdateSecretVersionStageCommand({
      SecretId: 'rollback', VersionStage: 'AWSCURRENT', MoveToVersionId: v1, RemoveFromVersionId: v2,
    }));
    expect((await c.send(new GetSecretValueCommand({ SecretId: 'rollback' }))).SecretString).toBe('one');
    expect((await c.send(new GetSecretValueCommand({ SecretId: 'rollback', VersionStage: 'AWSPREVIOUS' }))).VersionId).toBe(v2);
    // Without naming the current holder the move is refused, as AWS does.
    await expect(c.send(new UpdateSecretVersionStageCommand({
      SecretId: 'rollback', VersionStage: 'AWSCURRENT', MoveToVersionId: v2,
    }))).rejects.toMatchObject({ name: 'InvalidParameterException' });
  });

  it('reports a missing secret as ResourceNotFoundException', async () => {
    const err = await client().send(new GetSecretValueCommand({ SecretId: 'nope' })).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'ResourceNotFoundException',
      message: "Secrets Manager can't find the specified secret.",
      $metadata: { httpStatusCode: 400 },
    });
  });

  it('DeleteSecret schedules deletion, force deletion forgets the secret', async () => {
    const c = client();
    emu.putSecret('doomed', 'x');
    emu.putSecret('gone', 'y');
    await c.send(new DeleteSecretCommand({ SecretId: 'doomed', RecoveryWindowInDays: 7 }));
    await expect(c.send(new GetSecretValueCommand({ SecretId: 'doomed' })))
      .rejects.toMatchObject({ name: 'InvalidRequestException' });
    await c.send(new DeleteSecretCommand({ SecretId: 'gone', ForceDeleteWithoutRecovery: true }));
    await expect(c.send(new GetSecretValueCommand({ SecretId: 'gone' })))
      .rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('rejects a wrong secret key with a signature error the SDK surfaces', async () => {
    emu.putSecret('guarded', 'x');
    const bad = client({ accessKeyId: GOOD.accessKeyId, secretAccessKey: 'not-the-secret' });
    const err = await bad.send(new GetSecretValueCommand({ SecretId: 'guarded' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 400 } });
    expect((err as Error).message).toMatch(/^The request signature we calculated does not match/);
  });

  it('rejects an unknown access key and a missing or wrong session token', async () => {
    emu.putSecret('guarded', 'x');
    const cases = [
      { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: GOOD.secretAccessKey },
      { accessKeyId: TEMP.accessKeyId, secretAccessKey: TEMP.secretAccessKey },
      { ...TEMP, sessionToken: 'other-token' },
    ];
    for (const creds of cases) {
      await expect(client(creds).send(new GetSecretValueCommand({ SecretId: 'guarded' })))
        .rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    }
    const ok = await client(TEMP).send(new GetSecretValueCommand({ SecretId: 'guarded' }));
    expect(ok.SecretString).toBe('x');
  });

  it('rejects a request scoped to another region', async () => {
    emu.putSecret('guarded', 'x');
    await expect(client(GOOD, { region: 'eu-west-1' }).send(new GetSecretValueCommand({ SecretId: 'guarded' })))
      .rejects.toMatchObject({ name: 'InvalidSignatureException' });
  });

  it('rejects a body changed after signing', async () => {
    emu.putSecret('guarded', 'x');
    emu.putSecret('guardee', 'y');
    // Sign a request for one secret, then swap the body (same length) before it is sent;
    // optionally also fix up the payload hash header so only the signature can tell.
    const tampered = (fixHash: boolean): SecretsManagerClient => {
      const c = client();
      c.middlewareStack.add((next) => async (args) => {
        // This SDK version hands the JSON body over as bytes (a Uint8Array with string methods).
        const req = args.request as { body: Uint8Array | string; headers: Record<string, string> };
        const body = new TextDecoder().decode(req.body as Uint8Array).replace('guarded', 'guardee');
        req.body = body;
        if (fixHash) req.headers['x-amz-content-sha256'] = createHash('sha256').update(body).digest('hex');
        return next(args);
      }, { step: 'finalizeRequest', priority: 'low', name: 'tamper' });
      return c;
    };
    await expect(tampered(false).send(new GetSecretValueCommand({ SecretId: 'guarded' })))
      .rejects.toMatchObject({ name: 'XAmzContentSHA256Mismatch' });
    await expect(tampered(true).send(new GetSecretValueCommand({ SecretId: 'guarded' })))
      .rejects.toMatchObject({ name: 'InvalidSignatureException' });
  });

  it('injects throttling, server errors, outages and latency', async () => {
    emu.putSecret('flaky', 'x');
    const c = client(GOOD, { maxAttempts: 1 });

    emu.injectError('throttle');
    await expect(c.send(new GetSecretValueCommand({ SecretId: 'flaky' })))
      .rejects.toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } });

    emu.injectError('500');
    await expect(c.send(new GetSecretValueCommand({ SecretId: 'flaky' })))
      .rejects.toMatchObject({ name: 'InternalServiceError', $metadata: { httpStatusCode: 500 } });

    emu.injectError('outage');
    const outage = await c.send(new GetSecretValueCommand({ SecretId: 'flaky' })).catch((e: unknown) => e);
    expect(outage).toBeInstanceOf(Error);
    expect((outage as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBeUndefined();

    emu.injectError(null);
    emu.injectLatency(150);
    const started = Date.now();
    expect((await c.send(new GetSecretValueCommand({ SecretId: 'flaky' }))).SecretString).toBe('x');
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(emu.calls.byTarget.GetSecretValue).toBe(4);
  });

  it('counts every SDK retry of a failing call', async () => {
    emu.putSecret('busy', 'x');
    // 500 rather than throttling: the SDK backs off ~100 ms instead of ~500 ms per retry.
    emu.injectError('500');
    await expect(client(GOOD, { maxAttempts: 3 }).send(new GetSecretValueCommand({ SecretId: 'busy' })))
      .rejects.toMatchObject({ name: 'InternalServiceError' });
    expect(emu.callsFor('busy')).toBe(3);
    emu.resetCalls();
    expect(emu.calls).toEqual({ total: 0, byTarget: {} });
    expect(emu.callsFor('busy')).toBe(0);
  });
});
