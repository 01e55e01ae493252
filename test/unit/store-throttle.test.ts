import fc from 'fast-check';
import { createApi } from '../../lambdas/api/create-api';
import { StoreThrottle } from '../../lambdas/stores/domain/store-throttle';
import { apiEvent } from './support/api-events';
import { acme, json, other, webhookApi } from './support/in-memory-api';
import { InMemoryStoresRepository } from './support/in-memory-ports';
import { silentLogger } from './support/logger';

describe('StoreThrottle', () => {
  it('lets a burst through, then the rate, and tells how long to wait', () => {
    const throttle = new StoreThrottle({ rateLimit: 10, burstLimit: 5 });
    const t0 = 1_000_000;
    const burst = Array.from({ length: 6 }, () => throttle.take('acme', t0).allowed);
    expect(burst).toEqual([true, true, true, true, true, false]);
    expect(throttle.take('acme', t0)).toEqual({ allowed: false, retryAfterSeconds: 1 });
    expect(throttle.take('acme', t0 + 100).allowed).toBe(true);
    // Another store has its own bucket.
    expect(throttle.take('other', t0).allowed).toBe(true);
  });

  it('never lets more than burst + rate x elapsed through, whatever the arrival pattern', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 1, maxLength: 300 }),
        (rateLimit, burstLimit, gaps) => {
          const throttle = new StoreThrottle({ rateLimit, burstLimit });
          let now = 0;
          let allowed = 0;
          for (const gap of gaps) {
            now += gap;
            if (throttle.take('s', now).allowed) allowed += 1;
          }
          expect(allowed).toBeLessThanOrEqual(burstLimit + (rateLimit * now) / 1000 + 1e-9);
        },
      ),
    );
  });
});

describe('API limits and load shedding', () => {
  it('answers 429 with Retry-After to a store over its rate, and keeps serving the other stores', async () => {
    const { deps } = await webhookApi();
    const api = createApi({ ...deps, storeThrottle: { rateLimit: 1, burstLimit: 2 } }, silentLogger);
    const send = (headers: Record<string, string>) =>
      api(apiEvent('GET', '/v1/events', { headers: headers }), { adminApiKey: 'unused' });
    const statuses = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await send(acme)).statusCode);
    expect(statuses).toEqual([200, 200, 429, 429]);
    const limited = await send(acme);
    expect(limited.headers?.['retry-after']).toBe('1');
    expect(limited.headers?.['content-type']).toBe('application/problem+json');
    expect((await send(other)).statusCode).toBe(200);
  });

  it('sheds a request with 503 and Retry-After when DynamoDB stays throttled after the SDK retries', async () => {
    // An SDK-level fault: the emulator cannot throttle, so the repository throws what the SDK throws then.
    const { deps } = await webhookApi();
    const stores = new InMemoryStoresRepository();
    stores.findStoreIdByApiKeyHash = async () => {
      throw Object.assign(new Error('Throughput exceeds the current capacity'), {
        name: 'ProvisionedThroughputExceededException',
      });
    };
    const api = createApi({ ...deps, stores }, silentLogger);
    const answer = await api(apiEvent('POST', '/v1/transactions', { headers: acme, body: json({}).body }), {
      adminApiKey: 'unused',
    });
    expect(answer.statusCode).toBe(503);
    expect(answer.headers?.['retry-after']).toBe('1');
    for (const name of ['TimeoutError', 'RequestTimeout', 'ServiceUnavailable']) {
      stores.findStoreIdByApiKeyHash = async () => {
        throw Object.assign(new Error(name), { name });
      };
      const shed = await createApi({ ...deps, stores }, silentLogger)(
        apiEvent('GET', '/v1/events', { headers: acme }),
        {
          adminApiKey: 'unused',
        },
      );
      expect(shed.statusCode).toBe(503);
    }
  });
});
