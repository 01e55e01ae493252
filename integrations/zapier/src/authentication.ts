import type { Authentication, Bundle, ZObject } from 'zapier-platform-core';
import { apiUrl } from './api';

/**
 * API-key authentication with the store key (docs/api.md section 3: `Authorization: Bearer <store key>`), and
 * the API base URL beside it: each merchant's pipeline is its own deployment.
 */

/** What the connection test found: the API's host and, once the store has an event, its id. */
export type ConnectionInfo = {
  readonly apiHost: string;
  readonly storeId?: string;
};

/** `GET /v1/events?limit=1`: any store key may read it, and the newest event names the store. */
export async function testConnection(z: ZObject, bundle: Bundle): Promise<ConnectionInfo> {
  const url = apiUrl(bundle, '/v1/events');
  const response = await z.request({ url, method: 'GET', params: { order: 'desc', limit: '1' } });
  const [event] = (response.data as { data: { storeId?: string }[] }).data;
  return { apiHost: new URL(url).host, ...(event?.storeId ? { storeId: event.storeId } : {}) };
}

/** "acme @ pipeline.example.com", or only the host for a store with no event yet. */
export async function connectionLabel(_z: ZObject, bundle: Bundle): Promise<string> {
  const info = bundle.inputData as Partial<ConnectionInfo>;
  return info.storeId ? `${info.storeId} @ ${info.apiHost}` : String(info.apiHost ?? '');
}

export const authentication: Authentication = {
  type: 'custom',
  fields: [
    {
      key: 'apiUrl',
      label: 'API Base URL',
      type: 'string',
      required: true,
      helpText:
        'Where your commerce-pipeline API answers, such as `https://pipeline.example.com` (the `ApiUrl` output ' +
        'of `npx cdk deploy`).',
    },
    {
      key: 'apiKey',
      label: 'Store API Key',
      type: 'password',
      required: true,
      helpText:
        'The store key (`sk_store_…`) shown once when the store was created with `POST /v1/admin/stores`.',
    },
  ],
  test: testConnection,
  connectionLabel,
};
