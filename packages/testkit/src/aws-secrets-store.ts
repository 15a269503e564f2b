import { randomBytes, randomUUID } from 'node:crypto';

/**
 * The in-memory model behind the Secrets Manager emulator: secrets, their versions and the
 * staging labels (AWSCURRENT / AWSPREVIOUS) that move between versions. No HTTP here; the
 * emulator maps AwsServiceError to the wire error shape.
 */

export const AWSCURRENT = 'AWSCURRENT';
export const AWSPREVIOUS = 'AWSPREVIOUS';

export class AwsServiceError extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message);
  }
}

interface Version {
  id: string;
  secretString?: string;
  /** base64, as on the wire */
  secretBinary?: string;
  /** epoch seconds, as the wire carries timestamps */
  createdDate: number;
  stages: Set<string>;
}

interface Secret {
  name: string;
  arn: string;
  createdDate: number;
  description?: string;
  versions: Map<string, Version>;
  /** set when DeleteSecret scheduled the deletion (recovery window) */
  deletedDate?: number;
}

type Json = Record<string, unknown>;

const NOT_FOUND = "Secrets Manager can't find the specified secret.";

function str(input: Json, field: string): string | undefined {
  const v = input[field];
  return typeof v === 'string' ? v : undefined;
}

function nowSeconds(): number {
  return Date.now() / 1000;
}

function arnSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  return Array.from(randomBytes(6), (b) => alphabet[b % alphabet.length]).join('');
}

export class AwsSecretsStore {
  private readonly secrets = new Map<string, Secret>();

  constructor(private readonly region: string, private readonly accountId = '123456789012') {}

  /** Name of the secret a SecretId (name or full ARN) designates, if it exists. */
  nameOf(secretId: string): string | undefined {
    if (this.secrets.has(secretId)) return secretId;
    for (const s of this.secrets.values()) if (s.arn === secretId) return s.name;
    return undefined;
  }

  /** Forget a secret immediately (test API; DeleteSecret with ForceDeleteWithoutRecovery). */
  remove(name: string): boolean {
    return this.secrets.delete(name);
  }

  createSecret(input: Json): Json {
    const name = str(input, 'Name');
    if (!name) throw new AwsServiceError('InvalidParameterException', 'You must provide a value for Name.');
    const existing = this.secrets.get(name);
    if (existing?.deletedDate !== undefined) {
      throw new AwsServiceError('InvalidRequestException',
        "You can't create this secret because a secret with this name is already scheduled for deletion.");
    }
    if (existing) {
      throw new AwsServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    }
    const secret: Secret = {
      name,
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${arnSuffix()}`,
      createdDate: nowSeconds(),
      description: str(input, 'Description'),
      versions: new Map(),
    };
    const hasValue = input.SecretString !== undefined || input.SecretBinary !== undefined;
    // Validate the value before the secret becomes visible.
    const version = hasValue ? this.newVersion(secret, input) : undefined;
    this.secrets.set(name, secret);
    if (version) this.addVersion(secret, version, [AWSCURRENT]);
    return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
  }

  putSecretValue(input: Json): Json {
    const secret = this.live(input);
    const token = str(input, 'ClientRequestToken');
    const existing = token ? secret.versions.get(token) : undefined;
    if (existing) {
      // Idempotent retry of the same request: same token, same value.
      if (existing.secretString === str(input, 'SecretString') && existing.secretBinary === str(input, 'SecretBinary')) {
        return { ARN: secret.arn, Name: secret.name, VersionId: existing.id, VersionStages: [...existing.stages] };
      }
      throw new AwsServiceError('ResourceExistsException',
        "You can't modify an existing version, you can only create a new version.");
    }
    const stages = Array.isArray(input.VersionStages) ? input.VersionStages.map(String) : [AWSCURRENT];
    const version = this.newVersion(secret, input);
    this.addVersion(secret, version, stages);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  getSecretValue(input: Json): Json {
    const secret = this.live(input);
    const versionId = str(input, 'VersionId');
    const stage = str(input, 'VersionStage') ?? (versionId ? undefined : AWSCURRENT);
    let version: Version | undefined;
    if (versionId) {
      version = secret.versions.get(versionId);
      if (!version || (stage && !version.stages.has(stage))) {
        throw new AwsServiceError('ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
      }
    } else {
      version = [...secret.versions.values()].find((v) => v.stages.has(stage!));
      if (!version) {
        throw new AwsServiceError('ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for staging label: ${stage}`);
      }
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      ...(version.secretString !== undefined ? { SecretString: version.secretString } : {}),
      ...(version.secretBinary !== undefined ? { SecretBinary: version.secretBinary } : {}),
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  }

  deleteSecret(input: Json): Json {
    const secret = this.find(input);
    if (input.ForceDeleteWithoutRecovery === true) {
      this.secrets.delete(secret.name);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: nowSeconds() };
    }
    const days = typeof input.RecoveryWindowInDays === 'number' ? input.RecoveryWindowInDays : 30;
    secret.deletedDate ??= nowSeconds() + days * 86_400;
    return { ARN: secret.arn, Name: secret.name, DeletionDate: secret.deletedDate };
  }

  updateSecretVersionStage(input: Json): Json {
    const secret = this.live(input);
    const stage = str(input, 'VersionStage');
    if (!stage) throw new AwsServiceError('InvalidParameterException', 'You must provide a value for VersionStage.');
    const removeFrom = str(input, 'RemoveFromVersionId');
    const moveTo = str(input, 'MoveToVersionId');
    const holder = [...secret.versions.values()].find((v) => v.stages.has(stage));
    if (holder && holder.id !== removeFrom && holder.id !== moveTo) {
      throw new AwsServiceError('InvalidParameterException',
        `The staging label ${stage} is currently attached to version ${holder.id}, so you must explicitly reference that version in RemoveFromVersionId.`);
    }
    if (moveTo) {
      const target = secret.versions.get(moveTo);
      if (!target) {
        throw new AwsServiceError('ResourceNotFoundException',
          `Secrets Manager can't find the specified secret value for VersionId: ${moveTo}`);
      }
      this.attachStage(secret, target, stage);
    } else if (removeFrom) {
      secret.versions.get(removeFrom)?.stages.delete(stage);
    }
    return { ARN: secret.arn, Name: secret.name };
  }

  private find(input: Json): Secret {
    const id = str(input, 'SecretId');
    const name = id === undefined ? undefined : this.nameOf(id);
    const secret = name === undefined ? undefined : this.secrets.get(name);
    if (!secret) throw new AwsServiceError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  }

  /** Like find, but a secret scheduled for deletion cannot be read or changed. */
  private live(input: Json): Secret {
    const secret = this.find(input);
    if (secret.deletedDate !== undefined) {
      throw new AwsServiceError('InvalidRequestException',
        "You can't perform this operation on the secret because it was marked for deletion.");
    }
    return secret;
  }

  private newVersion(secret: Secret, input: Json): Version {
    const secretString = str(input, 'SecretString');
    const secretBinary = str(input, 'SecretBinary');
    if (secretString !== undefined && secretBinary !== undefined) {
      throw new AwsServiceError('InvalidParameterException',
        "You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    if (secretString === undefined && secretBinary === undefined) {
      throw new AwsServiceError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
    }
    const id = str(input, 'ClientRequestToken') ?? randomUUID();
    return { id, secretString, secretBinary, createdDate: nowSeconds(), stages: new Set() };
  }

  private addVersion(secret: Secret, version: Version, stages: string[]): void {
    secret.versions.set(version.id, version);
    for (const stage of stages) this.attachStage(secret, version, stage);
  }

  /**
   * A label lives on one version at a time. Moving AWSCURRENT also moves AWSPREVIOUS to the
   * version that was current, which is how Secrets Manager keeps the last value reachable.
   */
  private attachStage(secret: Secret, target: Version, stage: string): void {
    const holder = [...secret.versions.values()].find((v) => v.stages.has(stage));
    if (holder === target) return;
    holder?.stages.delete(stage);
    target.stages.add(stage);
    if (stage === AWSCURRENT && holder) {
      for (const v of secret.versions.values()) v.stages.delete(AWSPREVIOUS);
      holder.stages.add(AWSPREVIOUS);
    }
  }
}
