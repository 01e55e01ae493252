import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { version as installedCoreVersion } from 'zapier-platform-core';
import { prepareApp, serializeApp } from 'zapier-platform-core/src/tools/schema';
import { validateAppDefinition } from 'zapier-platform-schema';
import App from '../../integrations/zapier/src';
import { TRIGGER_SPECS } from '../../integrations/zapier/src/triggers';
import { EVENT_TYPES, isEventId } from '../../lambdas/events/domain/events';

/**
 * The Zapier integration's definition (integrations/zapier), checked as `zapier validate` and `zapier push` check
 * it: compiled and serialized by zapier-platform-core, then validated against zapier-platform-schema. Its
 * behaviour against a running pipeline is test/integration/zapier/zapier-app.test.ts.
 */
const INTEGRATION_DIR = join(__dirname, '..', '..', 'integrations', 'zapier');
const definition = serializeApp(prepareApp(App));

it('is a valid app definition for zapier-platform-schema', () => {
  const { errors } = validateAppDefinition(definition);
  expect(errors.map((error) => error.stack)).toEqual([]);
  // The validator does reject: a trigger key with a space is an error.
  const triggers = definition.triggers as Record<string, Record<string, unknown>>;
  const broken = {
    ...definition,
    triggers: { ...triggers, bad: { ...triggers.new_transaction, key: 'new txn' } },
  };
  expect(validateAppDefinition(broken).errors.length).toBeGreaterThan(0);
});

it('runs on the zapier-platform-core version its package.json pins, which is the one the root installs', () => {
  const integration = JSON.parse(readFileSync(join(INTEGRATION_DIR, 'package.json'), 'utf8'));
  const root = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8'));
  expect(integration.dependencies['zapier-platform-core']).toBe(installedCoreVersion);
  expect(root.devDependencies['zapier-platform-core']).toBe(`^${installedCoreVersion}`);
  expect(App.platformVersion).toBe(installedCoreVersion);
  expect(App.version).toBe(integration.version);
  // `zapier push` loads index.js, which loads the build of src/index.ts.
  expect(integration.main).toBe('index.js');
  expect(integration.scripts['_zapier-build']).toBeDefined();
});

it('authenticates with the API base URL and the store key', () => {
  expect(definition.authentication).toMatchObject({
    type: 'custom',
    fields: [
      { key: 'apiUrl', required: true, type: 'string' },
      { key: 'apiKey', required: true, type: 'password' },
    ],
  });
});

it.each(TRIGGER_SPECS)('$key is a REST-hook trigger on $eventType with a sample of that event', (spec) => {
  expect(EVENT_TYPES).toContain(spec.eventType);
  const trigger = App.triggers[spec.key];
  expect(trigger?.operation).toMatchObject({ type: 'hook', sample: spec.sample });
  const operation = trigger?.operation as unknown as Record<string, unknown>;
  for (const method of ['performSubscribe', 'performUnsubscribe', 'perform', 'performList']) {
    expect(typeof operation[method]).toBe('function');
  }
  // The sample is a webhook body as the pipeline sends it (docs/api.md section 4).
  expect(Object.keys(spec.sample).sort()).toEqual(['createdAt', 'data', 'id', 'storeId', 'type']);
  expect(spec.sample.type).toBe(spec.eventType);
  expect(isEventId(spec.sample.id)).toBe(true);
  expect(Number.isNaN(Date.parse(spec.sample.createdAt))).toBe(false);
});

it('covers new transactions, charges, failed payments and cancellations', () => {
  expect(TRIGGER_SPECS.map((spec) => spec.eventType)).toEqual([
    'transaction.created',
    'subscription.charged',
    'subscription.payment_failed',
    'subscription.canceled',
  ]);
});
