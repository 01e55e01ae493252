import { transactionInput } from '../../../events/domain/transactions';
import { problems } from '../../http/problem';
import { createStoreBody } from '../../routes/admin-stores';
import { type Answer, input, json, jsonBody, type OperationSpec, out } from '../builder';
import {
  adminKey,
  anyRoute,
  idempotencyProblems,
  jsonBodyProblems,
  problemAnswer,
  storeKey,
} from '../problem';
import { acceptedTransactionSchema, createdStoreSchema, EXAMPLE_TIME, healthSchema } from '../responses';

/** Health, the documents the API serves about itself, stores and transactions. */
export function coreOperations(): OperationSpec[] {
  const transaction = {
    id: 'order-1001',
    customer: { id: 'cus_1', email: 'ana@example.com' },
    currency: 'usd',
    total: 2500,
    items: [{ sku: 'MUG', name: 'Mug', quantity: 1, unitPrice: 2500 }],
    metadata: { channel: 'web' },
  };
  return [
    {
      method: 'get',
      path: '/health',
      operationId: 'getHealth',
      summary: 'Check that the API answers',
      tags: ['Documents'],
      security: 'none',
      answers: [json(200, 'The API answers', out('Health', healthSchema), { status: 'ok' }), ...anyRoute()],
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This OpenAPI 3.1 document',
      description:
        'Generated when the function starts from the zod schemas the routes validate requests with; every integration test checks the answers it gets against it.',
      tags: ['Documents'],
      security: 'none',
      answers: [
        {
          status: 200,
          description: 'The OpenAPI 3.1 document',
          content: {
            mediaType: 'application/json',
            schema: {
              json: {
                type: 'object',
                properties: {
                  openapi: { type: 'string', pattern: '^3\\.1\\.' },
                  info: { type: 'object' },
                  paths: { type: 'object' },
                },
                required: ['openapi', 'info', 'paths'],
              },
            },
            examples: {
              success: {
                value: { openapi: '3.1.0', info: { title: 'commerce-pipeline', version: '1' }, paths: {} },
              },
            },
          },
          headers: ['Cache-Control'],
        },
        ...anyRoute(),
      ],
    },
    {
      method: 'post',
      path: '/v1/admin/stores',
      operationId: 'createStore',
      summary: 'Create a store and its API key',
      description: 'The store key is in this answer only; it is stored as a SHA-256 digest.',
      tags: ['Stores'],
      security: 'admin',
      idempotencyKey: 'Makes a retry safe: the same key and body replay the first answer.',
      body: jsonBody(input('CreateStoreRequest', createStoreBody), { id: 'acme', name: 'Acme' }),
      answers: [
        json(
          201,
          'The store, with its API key (shown once)',
          out('CreatedStore', createdStoreSchema),
          { id: 'acme', name: 'Acme', apiKey: 'sk_store_9QeY1nQ2e0bqk5VQxFq6XkJ2', createdAt: EXAMPLE_TIME },
          ['Idempotent-Replayed'],
        ),
        ...adminKey(),
        ...jsonBodyProblems(createStoreBody, { id: 'Acme Inc', name: '' }),
        ...idempotencyProblems(),
        problemAnswer('A store with this id exists', [problems.conflict('Store "acme" already exists.')]),
      ],
    },
    {
      method: 'post',
      path: '/v1/transactions',
      operationId: 'createTransaction',
      summary: 'Accept a transaction',
      description:
        'One durable write, then 202; the `transaction.created` webhook follows asynchronously. The Idempotency-Key defaults to the transaction `id`: the same id and body answer as the first time (`Idempotent-Replayed: true`), the same id with another body is 422.',
      tags: ['Transactions'],
      security: 'store',
      idempotencyKey: 'Defaults to the transaction `id`.',
      body: jsonBody(input('TransactionRequest', transactionInput), transaction),
      answers: [
        json(
          202,
          'Accepted: the event will be delivered',
          out('AcceptedTransaction', acceptedTransactionSchema),
          { id: 'order-1001', status: 'accepted', eventId: 'evt_01JEXAMPLE00000000000000AB' },
          ['Idempotent-Replayed'],
        ),
        ...storeKey(),
        ...jsonBodyProblems(transactionInput, { ...transaction, currency: 'dollars', total: 25.5 }),
        ...idempotencyProblems(),
        problemAnswer('The transaction id (the default key) was accepted before with another body', [
          problems.idempotencyMismatch('order-1001'),
        ]),
      ] satisfies Answer[],
    },
  ];
}
