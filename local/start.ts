import { readLocalStackFile, removeLocalStackFile, writeLocalStackFile } from '../cli/local-stack-file';
import { ConfigError, loadConfig } from '../lambdas/platform/config';
import { QUIET_SDK_ENVIRONMENT } from './aws-clients';
import { type LocalStack, localSettings, startLocalStack } from './stack';

/**
 * `npm start`: the whole pipeline on this machine until Ctrl-C. Configuration errors stop it before anything
 * starts; any start-up error stops what had started; SIGINT and SIGTERM stop everything and exit 0.
 */
async function main(): Promise<void> {
  const startedAt = Date.now();
  Object.assign(process.env, { ...QUIET_SDK_ENVIRONMENT, ...process.env });
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(process.env, 'local');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }

  let stack: LocalStack | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the local stack...`);
    if (readLocalStackFile()?.pid === process.pid) removeLocalStackFile();
    await stack?.stop();
    process.exit(0);
  };
  // Registered before start-up, so that a Ctrl-C during it still stops what has started.
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  try {
    stack = await startLocalStack({
      port: config.port,
      host: config.host,
      prefix: 'local',
      config: {
        adminApiKey: config.adminApiKey,
        demoStoreApiKey: config.demoStoreApiKey,
        paymentGatewayApiKey: config.paymentGatewayApiKey,
        settings: localSettings(process.env),
      },
    });
  } catch (error) {
    console.error(`The local stack did not start: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
  if (stopping) return;
  // Where `npx pipeline` finds this stack (and its queues, for redrive) without flags.
  writeLocalStackFile({
    apiUrl: stack.apiUrl,
    adminApiKey: stack.adminApiKey,
    pid: process.pid,
    endpoints: stack.endpoints,
    paymentGatewayUrl: stack.paymentGatewayUrl,
    smtpUrl: stack.smtpUrl,
    resources: Object.fromEntries(
      stack.resources.all().map((resource) => [resource.logicalId, resource.ref]),
    ),
  });
  printSummary(stack, Date.now() - startedAt);
}

function printSummary(stack: LocalStack, startupMs: number): void {
  const byType = (type: string) => stack.resources.all().filter((resource) => resource.type === type);
  const lines = [
    `commerce-pipeline local stack is up (${(startupMs / 1000).toFixed(1)} s)`,
    '',
    `  DynamoDB Local   ${stack.endpoints.dynamodb}`,
    `  SQS + S3         ${stack.endpoints.sqs} (fauxqs)`,
    `  Secrets Manager  ${stack.secrets.url} (local; functions read their secrets from it)`,
    `  Payment gateway  ${stack.paymentGatewayUrl} (${stack.paymentGateway ? 'bundled, Stripe-compatible' : 'PAYMENT_GATEWAY_URL'})`,
    `  SMTP             ${stack.smtpUrl} (${stack.smtpSink ? 'bundled sink, keeps every mail' : 'SMTP_URL'})`,
    '',
    ...list(
      'Tables',
      byType('AWS::DynamoDB::Table').map((table) => table.ref),
    ),
    ...list(
      'Queues',
      byType('AWS::SQS::Queue').map((queue) => queue.attributes.QueueName ?? queue.ref),
    ),
    ...list(
      'Buckets',
      byType('AWS::S3::Bucket').map((bucket) => bucket.ref),
    ),
    ...list(
      'Functions',
      [...stack.functions.values()].map((fn) => `${fn.props.name}  (${fn.props.entry})`),
    ),
    ...list(
      'Event sources',
      stack.eventSources.map((source) => source.description),
    ),
    `  API              ${stack.apiUrl}`,
    `  Console          ${stack.apiUrl}/console  (sign in with the admin key or a store key)`,
    `  Admin key        ${stack.adminApiKey}`,
    ...(stack.demoStore ? [`  Demo store       ${stack.demoStore.id}, key ${stack.demoStore.apiKey}`] : []),
    '',
    `  Try: curl ${stack.apiUrl}/health`,
    '  Ctrl-C stops everything.',
  ];
  console.log(lines.join('\n'));
}

function list(title: string, items: string[]): string[] {
  if (items.length === 0) return [];
  return [`  ${title}:`, ...items.map((item) => `    ${item}`), ''];
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
