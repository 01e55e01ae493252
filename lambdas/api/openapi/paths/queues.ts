import { QUEUE_NAMES } from '../../../operations/domain/queues';
import { queueNameSchema, redriveBody } from '../../routes/queues';
import { input, json, jsonBody, type OperationSpec, out } from '../builder';
import { adminKey, idempotencyProblems, jsonBodyProblems, notFound } from '../problem';
import { exampleQueues, queueListSchema, redriveSchema } from '../responses';

/** The work queues and their dead letters, as `npx pipeline status` and `npx pipeline redrive` see them. */
export function queueOperations(): OperationSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/admin/queues',
      operationId: 'listQueues',
      summary: 'Every work queue with its depths, oldest message and dead letters',
      description:
        "Depths are SQS's approximate counts. `oldestAgeSeconds` is absent when the queue is empty or its age is unknown.",
      tags: ['Queues'],
      security: 'admin',
      answers: [
        json(200, 'The queues', out('QueueList', queueListSchema), { data: exampleQueues }),
        ...adminKey(),
      ],
    },
    {
      method: 'post',
      path: '/v1/admin/queues/{name}/redrive',
      operationId: 'redriveQueue',
      summary: "Move a queue's dead letters back to it",
      description:
        "Moves for at most a few seconds (within API Gateway's timeout): `remaining` is what the dead-letter queue still holds; call again while it is not 0. The body is `{}` or empty.",
      tags: ['Queues'],
      security: 'admin',
      pathParams: [
        {
          name: 'name',
          description: `The work queue: ${QUEUE_NAMES.join(', ')}. Another name is 404.`,
          schema: { type: 'string', enum: [...queueNameSchema.options] },
          example: 'deliveries',
        },
      ],
      idempotencyKey: 'Makes a retry safe: a replay answers the first counts and moves nothing.',
      body: jsonBody(input('RedriveRequest', redriveBody), {}, { required: false }),
      answers: [
        json(202, 'Moved', out('Redrive', redriveSchema), { moved: 2, remaining: 0 }, [
          'Idempotent-Replayed',
        ]),
        ...adminKey(),
        ...jsonBodyProblems(redriveBody, { all: true }),
        notFound('No queue "mail": the queues are deliveries, replays, charges, runs, notifications.'),
        ...idempotencyProblems(),
      ],
    },
  ];
}
