// Runs fauxqs (SQS + S3 emulator) on 127.0.0.1 in its own process, started by fauxqs.ts.
// argv[2]: the port (0: a free one). Reports `{ ready: true, port }` or `{ error }` over IPC, and exits when
// its parent goes away (the IPC channel closes), so it is never left behind even if the parent is killed.
import { buildApp } from 'fauxqs';

// fauxqs names queue URLs after `sqs.<region>.localhost`, which does not resolve here, unless its SQS store has
// an empty host: then a queue URL carries the host the client used (127.0.0.1:<port>). buildApp only sets a
// non-empty host, so the stores are built here, from the pinned fauxqs@1.9.2's own modules.
const distUrl = import.meta.resolve('fauxqs');
const { SqsStore } = await import(new URL('./sqs/sqsStore.js', distUrl).href);
const { SnsStore } = await import(new URL('./sns/snsStore.js', distUrl).href);
const { S3Store } = await import(new URL('./s3/s3Store.js', distUrl).href);

const sqsStore = new SqsStore();
sqsStore.host = '';
const app = buildApp({
  logger: false,
  stores: { sqsStore, snsStore: new SnsStore(), s3Store: new S3Store() },
});

async function shutdown() {
  await app.close().catch(() => undefined);
  process.exit(0);
}
process.on('disconnect', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

try {
  await app.listen({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
  const address = app.server.address();
  process.send?.({ ready: true, port: typeof address === 'object' && address ? address.port : 0 });
} catch (error) {
  process.send?.({ error: { code: error?.code, message: String(error?.message ?? error) } });
  process.exit(1);
}
