import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { listen } from '../runtime/listen';

/**
 * The local stack's Secrets Manager: the subset of its AWS JSON 1.1 API that the functions (through
 * `@middy/secrets-manager` and `@aws-sdk/client-secrets-manager`) and the tests use, `GetSecretValue`,
 * `PutSecretValue` and `DescribeSecret`, with versions and staging labels (`AWSCURRENT`, `AWSPREVIOUS`) as AWS
 * keeps them. Functions reach it through `AWS_ENDPOINT_URL_SECRETS_MANAGER`, so the same middleware reads secrets
 * locally and in AWS, and a value rotated here is picked up when the functions' cache expires, as in AWS.
 *
 * Hand-written because no maintained npm package emulates Secrets Manager offline (LocalStack and moto are
 * Python and Docker; the npm packages that mock it do so inside the SDK of one process, not over HTTP to worker
 * threads). Requests are not authenticated (the SDK signs them with the local dummy credentials), and nothing
 * here ever logs a secret value.
 */

export interface LocalSecretsManagerOptions {
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
}

/** A secret as CloudFormation would create it: its ARN (what `Ref` gives), its name and its first value. */
export interface LocalSecretDefinition {
  readonly arn: string;
  readonly name: string;
  readonly value: string;
  readonly description?: string;
}

interface SecretVersion {
  readonly id: string;
  readonly secretString?: string;
  /** Base64, as the JSON protocol carries blobs. */
  readonly secretBinary?: string;
  readonly createdDate: number;
  readonly stages: Set<string>;
}

interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  readonly description?: string;
  readonly createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  readonly versions: Map<string, SecretVersion>;
}

/** An AWS JSON protocol error: its `__type` and HTTP status. */
class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const CURRENT = 'AWSCURRENT';
const PREVIOUS = 'AWSPREVIOUS';
const TARGET_PREFIX = 'secretsmanager.';
const CONTENT_TYPE = 'application/x-amz-json-1.1';
/** Secrets Manager takes up to 64 KiB per value; a request body well past that is refused unread. */
const MAX_BODY_BYTES = 256 * 1024;

type Operation = (input: Record<string, unknown>) => Record<string, unknown>;

export class LocalSecretsManager {
  private readonly secrets = new Map<string, StoredSecret>();
  private readonly operations: Readonly<Record<string, Operation>> = {
    GetSecretValue: (input) => this.getSecretValue(input),
    PutSecretValue: (input) => this.putSecretValue(input),
    DescribeSecret: (input) => this.describeSecret(input),
  };

  private constructor(private readonly server: Server) {}

  static async start(options: LocalSecretsManagerOptions = {}): Promise<LocalSecretsManager> {
    let emulator: LocalSecretsManager | undefined;
    const server = createServer((req, res) => {
      void emulator?.handle(req, res).catch(() => {
        if (!res.headersSent)
          sendError(res, new ServiceError('InternalServiceError', 'Internal error.', 500));
      });
    });
    emulator = new LocalSecretsManager(server);
    await listen(server, options);
    return emulator;
  }

  /** `http://127.0.0.1:<port>`: what `AWS_ENDPOINT_URL_SECRETS_MANAGER` is set to. */
  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address}:${port}`;
  }

  /** Creates a secret with its first (`AWSCURRENT`) version. */
  create(definition: LocalSecretDefinition): void {
    if (this.secrets.has(definition.arn) || this.find(definition.name)) {
      throw new Error(
        `The local Secrets Manager already has a secret ${definition.name} (${definition.arn}).`,
      );
    }
    const now = epochSeconds();
    this.secrets.set(definition.arn, {
      arn: definition.arn,
      name: definition.name,
      description: definition.description,
      createdDate: now,
      lastChangedDate: now,
      versions: new Map(),
    });
    this.putSecretValue({ SecretId: definition.arn, SecretString: definition.value });
  }

  /**
   * Puts a new current value into a secret (by ARN or name), as `PutSecretValue` does: the previous value keeps
   * the `AWSPREVIOUS` label. Returns the new version's id.
   */
  put(secretId: string, value: string): string {
    this.require(secretId);
    return String(this.putSecretValue({ SecretId: secretId, SecretString: value }).VersionId);
  }

  /** The current value of a secret (by ARN or name), as `GetSecretValue` gives it. */
  value(secretId: string): string | undefined {
    this.require(secretId);
    return this.getSecretValue({ SecretId: secretId }).SecretString as string | undefined;
  }

  /** The ARNs of every secret held. */
  arns(): string[] {
    return [...this.secrets.keys()];
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    const operationName =
      typeof target === 'string' && target.startsWith(TARGET_PREFIX)
        ? target.slice(TARGET_PREFIX.length)
        : '';
    const operation = this.operations[operationName];
    const body = await readBody(req);
    try {
      if (req.method !== 'POST' || !operation) {
        throw new ServiceError(
          'UnknownOperationException',
          `The local Secrets Manager does not support ${operationName || 'this request'}.`,
        );
      }
      if (body === undefined)
        throw new ServiceError('SerializationException', 'The request body is too large.');
      let input: unknown;
      try {
        input = body === '' ? {} : JSON.parse(body);
      } catch {
        throw new ServiceError('SerializationException', 'The request body is not JSON.');
      }
      if (!input || typeof input !== 'object' || Array.isArray(input)) {
        throw new ServiceError('SerializationException', 'The request body is not a JSON object.');
      }
      send(res, 200, operation(input as Record<string, unknown>));
    } catch (error) {
      if (!(error instanceof ServiceError)) throw error;
      sendError(res, error);
    }
  }

  private getSecretValue(input: Record<string, unknown>): Record<string, unknown> {
    const secret = this.secretOf(input);
    const versionId = optionalString(input, 'VersionId');
    const stage = optionalString(input, 'VersionStage');
    const version = versionId
      ? secret.versions.get(versionId)
      : [...secret.versions.values()].find((candidate) => candidate.stages.has(stage ?? CURRENT));
    if (!version || (stage !== undefined && !version.stages.has(stage))) {
      throw new ServiceError(
        'ResourceNotFoundException',
        versionId
          ? `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`
          : `Secrets Manager can't find the specified secret value for staging label: ${stage ?? CURRENT}`,
      );
    }
    secret.lastAccessedDate = epochSeconds();
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

  private putSecretValue(input: Record<string, unknown>): Record<string, unknown> {
    const secret = this.secretOf(input);
    const secretString = optionalString(input, 'SecretString');
    const secretBinary = optionalString(input, 'SecretBinary');
    if ((secretString === undefined) === (secretBinary === undefined)) {
      throw new ServiceError(
        'InvalidParameterException',
        'Specify exactly one of SecretString and SecretBinary.',
      );
    }
    const token = optionalString(input, 'ClientRequestToken') ?? randomUUID();
    if (token.length < 32 || token.length > 64) {
      throw new ServiceError('InvalidParameterException', 'ClientRequestToken must be 32 to 64 characters.');
    }
    const stages = input.VersionStages === undefined ? [CURRENT] : stringList(input, 'VersionStages');
    const existing = secret.versions.get(token);
    if (existing) {
      // A retried request (the SDK reuses its generated token) gets the first answer; another value is a conflict.
      if (existing.secretString !== secretString || existing.secretBinary !== secretBinary) {
        throw new ServiceError(
          'ResourceExistsException',
          `A version with VersionId ${token} already exists with another value.`,
        );
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...existing.stages] };
    }
    const version: SecretVersion = {
      id: token,
      secretString,
      secretBinary,
      createdDate: epochSeconds(),
      stages: new Set(),
    };
    if (stages.includes(CURRENT)) {
      // The version losing AWSCURRENT becomes AWSPREVIOUS, as in AWS.
      const current = [...secret.versions.values()].find((candidate) => candidate.stages.has(CURRENT));
      if (current) {
        for (const other of secret.versions.values()) other.stages.delete(PREVIOUS);
        current.stages.add(PREVIOUS);
      }
    }
    for (const stage of stages) {
      for (const other of secret.versions.values()) other.stages.delete(stage);
      version.stages.add(stage);
    }
    secret.versions.set(token, version);
    // Versions without a label are deprecated; AWS drops them eventually, this drops them at once.
    for (const [id, other] of secret.versions) if (other.stages.size === 0) secret.versions.delete(id);
    secret.lastChangedDate = version.createdDate;
    return { ARN: secret.arn, Name: secret.name, VersionId: token, VersionStages: [...version.stages] };
  }

  private describeSecret(input: Record<string, unknown>): Record<string, unknown> {
    const secret = this.secretOf(input);
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description !== undefined ? { Description: secret.description } : {}),
      RotationEnabled: false,
      CreatedDate: secret.createdDate,
      LastChangedDate: secret.lastChangedDate,
      ...(secret.lastAccessedDate !== undefined ? { LastAccessedDate: secret.lastAccessedDate } : {}),
      VersionIdsToStages: Object.fromEntries(
        [...secret.versions.values()].map((version) => [version.id, [...version.stages]]),
      ),
    };
  }

  private secretOf(input: Record<string, unknown>): StoredSecret {
    const secretId = optionalString(input, 'SecretId');
    if (secretId === undefined || secretId === '') {
      throw new ServiceError('InvalidParameterException', 'SecretId is required.');
    }
    const secret = this.find(secretId);
    if (!secret) {
      throw new ServiceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return secret;
  }

  private require(secretId: string): void {
    if (!this.find(secretId)) throw new Error(`The local Secrets Manager has no secret ${secretId}.`);
  }

  /** By ARN or by name, as AWS accepts either as a `SecretId`. */
  private find(secretId: string): StoredSecret | undefined {
    return (
      this.secrets.get(secretId) ?? [...this.secrets.values()].find((secret) => secret.name === secretId)
    );
  }
}

function optionalString(input: Record<string, unknown>, field: string): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw new ServiceError('InvalidParameterException', `${field} must be a string.`);
  return value;
}

function stringList(input: Record<string, unknown>, field: string): string[] {
  const value = input[field];
  if (!Array.isArray(value) || value.length === 0 || value.some((item) => typeof item !== 'string')) {
    throw new ServiceError('InvalidParameterException', `${field} must be a non-empty list of strings.`);
  }
  return value as string[];
}

/** The JSON protocol's timestamps: seconds since the epoch, fractions allowed. */
function epochSeconds(): number {
  return Date.now() / 1000;
}

/** The body as text, or undefined when it is larger than MAX_BODY_BYTES (then it is not kept). */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

function sendError(res: ServerResponse, error: ServiceError): void {
  res.setHeader('x-amzn-errortype', error.type);
  send(res, error.status, { __type: error.type, message: error.message });
}
