import { type App, version as platformVersion, type Trigger } from 'zapier-platform-core';
import { addStoreKey, explainProblems } from './api';
import { authentication } from './authentication';
import { triggers } from './triggers';

/**
 * The commerce-pipeline Zapier integration: the store key and API URL as the connection, and REST-hook triggers
 * on the pipeline's webhooks. `zapier push` builds it (`npm run _zapier-build`, tsc into dist/) and loads it
 * through index.js; the root's tests load this file directly.
 */
// The integration's own package.json (not the root's): its version is the version Zapier shows.
const { version } = require('../package.json') as { version: string };

const app: App<Record<string, Trigger>> = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addStoreKey],
  afterResponse: [explainProblems],
  triggers,
  flags: {
    // Every request goes through z.request, which Zapier logs by itself; no third-party HTTP client needs the
    // process-wide patch of `http`/`fetch` (which would also wrap the host process's own clients in tests).
    skipHttpPatch: true,
  },
};

export default app;
