import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import * as path from 'node:path';
import { NON_SECRET_CONFIG_VARIABLES } from '../lambdas/platform/config';
import {
  createLocalClients,
  type LocalClients,
  type LocalEndpoints,
  localSdkEnvironment,
} from './aws-clients';
import { startDynamoDbLocal } from './emulators/dynamodb-local';
import { startFauxqs } from './emulators/fauxqs';
import type { RunningEmulator } from './emulators/managed-child';
import { LocalSecretsManager } from './emulators/secrets-manager';
import { PaymentGateway, type PaymentGatewayOptions } from './payment-gateway/payment-gateway';
import { provisionResources, provisionSecrets } from './provision';
import type { ResourceMap } from './resource-map';
import { bundleHandlers, REPO_ROOT } from './runtime/bundle-handlers';
import type { EventSource } from './runtime/event-source';
import { startEventSources } from './runtime/event-source-mappings';
import { functionDefinitions, handlerEntries } from './runtime/function-definitions';
import { type HttpGateway, listenHttpGateway } from './runtime/http-gateway';
import { httpRoutes } from './runtime/http-routes';
import { LocalFunction } from './runtime/local-function';
import { seedDemoStore } from './seed-demo-store';
import { SmtpSink, type SmtpSinkOptions } from './smtp-sink/smtp-sink';
import { type CfnTemplate, synthesizePipelineTemplate } from './template';

export interface LocalStackConfig {
  /** @default generated */
  readonly adminApiKey?: string;
  /** @default generated */
  readonly demoStoreApiKey?: string;
  /** @default 'sk_test_local' */
  readonly paymentGatewayApiKey?: string;
  /**
   * The contract's non-secret settings, by variable name, given to every function. Without PAYMENT_GATEWAY_URL
   * (resp. SMTP_URL) the stack starts the bundled gateway (resp. SMTP sink) and sets it to that.
   * @default those set in this process's environment, with WEBHOOK_ALLOW_PRIVATE_TARGETS=true
   */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface LocalStackOptions {
  /** @default 0 - a free port */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** An already running DynamoDB Local. @default - one is started, and stopped with the stack */
  readonly dynamodbEndpoint?: string;
  /** An already running fauxqs (SQS and S3). @default - one is started, and stopped with the stack */
  readonly sqsEndpoint?: string;
  /**
   * Starts every physical name, so that stacks can share emulators: lower-case letters, digits and dashes.
   * @default 'cp' and random characters
   */
  readonly prefix?: string;
  readonly config?: LocalStackConfig;
  /** DynamoDB Local holds tables and indexes in CREATING for a while, as AWS does. @default false */
  readonly delayTransientStatuses?: boolean;
  /** The template to run. @default the pipeline's, synthesized from the CDK app */
  readonly template?: CfnTemplate;
  /** How much faster than real time schedules run (tests). @default 1 */
  readonly scheduleSpeed?: number;
  /** Where the stack reports failed invocations and poller errors. @default console.error */
  readonly log?: (message: string) => void;
  /**
   * Where the functions' own output (their logs and EMF metrics) goes, by function name.
   * @default - this process's stdout and stderr
   */
  readonly functionOutput?: (functionName: string, chunk: string) => void;
  /**
   * The bundled payment gateway, when it is started: a fixed port, or faults from its first request on.
   * Its key is `config.paymentGatewayApiKey`, and it listens on 127.0.0.1.
   */
  readonly paymentGateway?: Pick<PaymentGatewayOptions, 'port' | 'faults'>;
  /** The bundled SMTP sink, when it is started: a fixed port. It listens on 127.0.0.1. */
  readonly smtpSink?: Pick<SmtpSinkOptions, 'port'>;
}

/** The local Secrets Manager's secrets, for tests that rotate one. */
export interface LocalSecrets {
  /** Where the local Secrets Manager listens (functions have it as `AWS_ENDPOINT_URL_SECRETS_MANAGER`). */
  readonly url: string;
  /**
   * Puts a new current value into a secret, given by logical id, ARN or name, as `PutSecretValue` does. Functions
   * read it once their secrets cache expires (`SECRETS_CACHE_SECONDS`), without a restart. Returns the version id.
   */
  put(secret: string, value: string): string;
  /** The current value of a secret, given by logical id, ARN or name. */
  value(secret: string): string | undefined;
}

export interface LocalStack {
  /** The HTTP API, `http://host:port`. */
  readonly apiUrl: string;
  /** The admin key the stack started with (a key put into its secret later is in `secrets`). */
  readonly adminApiKey: string;
  /** The store `demo`, when the template has a stores table to put it in. */
  readonly demoStore?: { readonly id: string; readonly apiKey: string };
  readonly endpoints: Required<LocalEndpoints>;
  readonly resources: ResourceMap;
  /** Every `AWS::SecretsManager::Secret` of the template, in the local Secrets Manager. */
  readonly secrets: LocalSecrets;
  /** The running functions by logical id. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  /** The event source mappings and schedules, for the start-up summary. */
  readonly eventSources: readonly EventSource[];
  /** What the functions have as PAYMENT_GATEWAY_URL: the bundled gateway's, or the configured one. */
  readonly paymentGatewayUrl: string;
  /** What the functions have as SMTP_URL: the bundled sink's, or the configured one. */
  readonly smtpUrl: string;
  /** The bundled gateway (its ledger, its faults); undefined when the settings give PAYMENT_GATEWAY_URL. */
  readonly paymentGateway?: PaymentGateway;
  /** The bundled SMTP sink (the mails it received); undefined when the settings give SMTP_URL. */
  readonly smtpSink?: SmtpSink;
  /**
   * Stops pollers and schedules, then functions, then the HTTP server, the local Secrets Manager and the bundled
   * gateway and sink, then the emulators it started, in that order.
   */
  stop(): Promise<void>;
}

/** In-flight invocations get this long to finish when the stack stops. */
const STOP_GRACE_MS = 5000;

/**
 * The whole pipeline on this machine: emulators, every table, queue and bucket of the CDK app's template, its
 * functions with their event sources and schedules, and the HTTP API. On a start-up failure everything started
 * so far is stopped before the error is thrown.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const prefix = options.prefix ?? `cp${randomBytes(3).toString('hex')}`;
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(prefix)) {
    throw new Error(`Invalid prefix "${prefix}": use up to 31 lower-case letters, digits and dashes.`);
  }
  const log = options.log ?? ((message: string) => console.error(message));
  const config = options.config ?? {};
  const adminApiKey = config.adminApiKey ?? `sk_admin_${randomBytes(24).toString('base64url')}`;
  const paymentGatewayApiKey = config.paymentGatewayApiKey ?? 'sk_test_local';
  const bundleDir = path.join(REPO_ROOT, '.local', 'bundles', prefix);
  const stops = new StopPhases(log);

  try {
    // The port first: if it is taken, nothing else needs to start.
    const gateway: HttpGateway = await listenHttpGateway({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
    });
    stops.add('servers', () => gateway.stop());

    // In-process, as the gateway: tests rotate secrets through it (`secrets.put`).
    const secretsManager = await LocalSecretsManager.start({ host: '127.0.0.1' });
    stops.add('servers', () => secretsManager.stop());

    const settings = { ...(config.settings ?? localSettings(process.env)) };
    const bundled = await startBundledServers(settings, options, paymentGatewayApiKey, stops);

    // The emulators boot in their own processes while the CDK app synthesizes here.
    const emulators = settleAll(
      [
        options.dynamodbEndpoint ??
          startDynamoDbLocal({ delayTransientStatuses: options.delayTransientStatuses }),
        options.sqsEndpoint ?? startFauxqs(),
      ],
      stops,
    );
    let template: CfnTemplate;
    try {
      template = options.template ?? synthesizePipelineTemplate();
    } catch (error) {
      await emulators.catch(() => undefined);
      throw error;
    }
    // esbuild bundles in its own process too, while the emulators finish starting.
    const bundling = bundleHandlers(handlerEntries(template), bundleDir);
    const bundlingSettled = bundling.catch(() => undefined);
    stops.add('servers', () => bundlingSettled.then(() => rm(bundleDir, { recursive: true, force: true })));
    const [dynamodb = '', sqs = ''] = await emulators;
    const endpoints = { dynamodb, sqs, s3: sqs, secretsManager: secretsManager.url };
    const clients: LocalClients = createLocalClients(endpoints);
    stops.add('servers', async () => clients.destroy());

    const resources = await provisionResources(template, { prefix, clients });
    for (const api of resources.all().filter((resource) => resource.type === 'AWS::ApiGatewayV2::Api')) {
      resources.set({ ...api, attributes: { ...api.attributes, ApiEndpoint: gateway.url, ApiId: api.ref } });
    }

    // Functions get the secrets' ARNs only, and read the values from the local Secrets Manager, as in AWS.
    provisionSecrets(template, resources, secretsManager, {
      ADMIN_API_KEY: adminApiKey,
      PAYMENT_GATEWAY_API_KEY: paymentGatewayApiKey,
    });
    const definitions = functionDefinitions(template, resources, {
      ...localSdkEnvironment(endpoints),
      ...settings,
    });
    const bundles = await bundling;
    const functions = new Map(
      definitions.map((definition) => [
        definition.logicalId,
        new LocalFunction({
          ...definition,
          bundlePath: bundles.get(definition.entry) ?? '',
          onInvocationError: (error) =>
            log(`[local] ${definition.name} failed: ${error.errorType}: ${error.message}`),
          ...(options.functionOutput
            ? { onOutput: (chunk: string) => options.functionOutput?.(definition.name, chunk) }
            : {}),
        }),
      ]),
    );
    stops.add('functions', () => Promise.all([...functions.values()].map((fn) => fn.stop(STOP_GRACE_MS))));

    const eventSources = await startEventSources(template, resources, functions, clients, {
      scheduleSpeed: options.scheduleSpeed,
      log,
    });
    // Pollers finish their in-flight invocations within the grace period; then the functions stop anyway.
    stops.add('sources', () =>
      withTimeout(Promise.all(eventSources.map((source) => source.stop())), STOP_GRACE_MS),
    );

    const routes = httpRoutes(template, resources, functions);
    gateway.setRoutes(routes.apiId, routes.routes);

    const demoStore = await seedDemoStore(definitions, clients.dynamodb, config.demoStoreApiKey);
    return {
      apiUrl: gateway.url,
      adminApiKey,
      demoStore,
      endpoints,
      resources,
      secrets: localSecrets(secretsManager, resources),
      functions,
      eventSources,
      paymentGatewayUrl: settings.PAYMENT_GATEWAY_URL ?? '',
      smtpUrl: settings.SMTP_URL ?? '',
      ...bundled,
      stop: () => stops.run(),
    };
  } catch (error) {
    await stops.run();
    throw error;
  }
}

/**
 * The contract's non-secret settings set in `env`, and SECRETS_CACHE_SECONDS (to try a rotation by hand);
 * locally, webhooks may target private addresses by default.
 */
export function localSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const settings: Record<string, string> = { WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' };
  // SECRETS_CACHE_SECONDS is read by lambdas/platform/secrets.ts (not imported here: it loads middy and the SDK).
  for (const name of [...NON_SECRET_CONFIG_VARIABLES, 'SECRETS_CACHE_SECONDS']) {
    const value = env[name];
    if (value !== undefined && value !== '') settings[name] = value;
  }
  return settings;
}

function localSecrets(secretsManager: LocalSecretsManager, resources: ResourceMap): LocalSecrets {
  // A logical id names the secret whose ARN its `Ref` gives; anything else is taken as an ARN or a name.
  const secretId = (secret: string) =>
    resources
      .all()
      .find((resource) => resource.type === 'AWS::SecretsManager::Secret' && resource.logicalId === secret)
      ?.ref ?? secret;
  return {
    url: secretsManager.url,
    put: (secret, value) => secretsManager.put(secretId(secret), value),
    value: (secret) => secretsManager.value(secretId(secret)),
  };
}

/**
 * The bundled payment gateway and SMTP sink on 127.0.0.1, each unless `settings` already names one (an empty
 * value counts as unset); their URLs go into `settings`, so every function gets them as the other settings.
 * Each is registered to stop as soon as it listens, so a later start-up failure stops it too.
 */
async function startBundledServers(
  settings: Record<string, string>,
  options: LocalStackOptions,
  paymentGatewayApiKey: string,
  stops: StopPhases,
): Promise<{ paymentGateway?: PaymentGateway; smtpSink?: SmtpSink }> {
  let paymentGateway: PaymentGateway | undefined;
  let smtpSink: SmtpSink | undefined;
  if (!settings.PAYMENT_GATEWAY_URL) {
    const started = await PaymentGateway.start({
      ...options.paymentGateway,
      apiKey: paymentGatewayApiKey,
      host: '127.0.0.1',
    });
    stops.add('servers', () => started.stop());
    settings.PAYMENT_GATEWAY_URL = started.url;
    paymentGateway = started;
  }
  if (!settings.SMTP_URL) {
    const started = await SmtpSink.start({ ...options.smtpSink, host: '127.0.0.1' });
    stops.add('servers', () => started.stop());
    settings.SMTP_URL = started.url;
    smtpSink = started;
  }
  return { paymentGateway, smtpSink };
}

/**
 * Waits for every emulator (a given endpoint is already running), registers the stop of each one that started,
 * then throws the first failure: no emulator is left behind when another fails.
 */
async function settleAll(
  starting: (string | Promise<RunningEmulator>)[],
  stops: StopPhases,
): Promise<string[]> {
  const results = await Promise.allSettled(starting.map((item) => Promise.resolve(item)));
  const endpoints: string[] = [];
  for (const result of results) {
    if (result.status === 'rejected') continue;
    const { value } = result;
    if (typeof value === 'string') endpoints.push(value);
    else {
      stops.add('emulators', () => value.stop());
      endpoints.push(value.endpoint);
    }
  }
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) throw failure.reason;
  return endpoints;
}

/** What a stack stops, in order: pollers and schedules, functions, servers and clients, child processes. */
type StopPhase = 'sources' | 'functions' | 'servers' | 'emulators';

class StopPhases {
  private readonly phases: Record<StopPhase, (() => Promise<unknown>)[]> = {
    sources: [],
    functions: [],
    servers: [],
    emulators: [],
  };

  constructor(private readonly log: (message: string) => void) {}

  add(phase: StopPhase, stop: () => Promise<unknown>): void {
    this.phases[phase].push(stop);
  }

  /** Runs every registered stop once, phase by phase; a failing stop is logged and does not stop the others. */
  async run(): Promise<void> {
    for (const stops of Object.values(this.phases)) {
      await Promise.all(
        stops.splice(0).map((stop) => stop().catch((error) => this.log(`[local] stop: ${error}`))),
      );
    }
  }
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}
