import * as z from 'zod';
import { listQuery } from '../../routes/events';
import { json, type OperationSpec, out } from '../builder';
import { notFound, queryProblems, storeKey } from '../problem';
import { eventSchema, exampleEvent } from '../webhooks';

export const eventListSchema = z.strictObject({
  data: z.array(eventSchema),
  next: z
    .string()
    .optional()
    .meta({ description: 'The last event id of the page: pass it back as `cursor`.' }),
});

/** The store's events, as delivered. */
export function eventOperations(): OperationSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/events',
      operationId: 'listEvents',
      summary: "List the store's events",
      description:
        "Oldest first (`order=asc`, the default) or newest first (`order=desc`, as Zapier's performList expects), with `next` while more may follow. `webhook.test` events are never listed.",
      tags: ['Events'],
      security: 'store',
      query: {
        schema: listQuery,
        descriptions: {
          since:
            'An ISO time (events at or after it) or an event id (events strictly after it); bounds the oldest event in either order.',
          type: 'Only events of this type.',
          limit: '1 to 100; default 50.',
          order: '`asc` (default) or `desc`.',
          cursor: "The previous page's `next`, in either order.",
        },
        examples: { order: 'desc', type: 'transaction.created', limit: '50' },
      },
      answers: [
        json(200, 'A page of events', out('EventList', eventListSchema), {
          data: [
            exampleEvent('transaction.created', 'evt_01JEXAMPLE00000000000000AB'),
            exampleEvent('subscription.charged', 'evt_01JEXAMPLE00000000000000AC'),
          ],
          next: 'evt_01JEXAMPLE00000000000000AC',
        }),
        ...storeKey(),
        queryProblems(listQuery, { order: 'newest' }),
      ],
    },
    {
      method: 'get',
      path: '/v1/events/{id}',
      operationId: 'getEvent',
      summary: 'Get one event, as delivered',
      tags: ['Events'],
      security: 'store',
      pathParams: [
        {
          name: 'id',
          description: 'An event id (`evt_…`); another store’s, an unknown one or anything else is 404.',
          schema: { type: 'string' },
          example: 'evt_01JEXAMPLE00000000000000AB',
        },
      ],
      answers: [
        json(200, 'The event', out('Event', eventSchema), exampleEvent('transaction.created')),
        ...storeKey(),
        notFound('No event "evt_01JEXAMPLE00000000000000AB" in this store.'),
      ],
    },
  ];
}
