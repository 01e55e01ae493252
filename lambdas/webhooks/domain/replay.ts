import { type EventsRepository, firstEventIdAt } from '../../events/domain/events';
import type { WebhookLogger } from './delivery';
import {
  type DeliveryMessage,
  type DeliveryQueue,
  type ReplayJob,
  replayJob,
  withEmbeddedEvent,
} from './messages';

/**
 * Replay (refeed): every event of a time window, optionally of some types, delivered again to one endpoint, even
 * those delivered before. Each message carries the job's `replayId`, which makes it a delivery of its own in the
 * attempt log. Running a job twice (a redelivered queue message) sends the messages again; delivery's lease on
 * (endpoint, event, replayId) makes the copies harmless.
 *
 * The endpoint's own event filter is applied at delivery (an endpoint is sent only the types it wants).
 */
const REPLAY_PAGE_SIZE = 100;

/** The number of delivery messages sent. */
export async function runReplay(
  job: ReplayJob,
  deps: { readonly events: Pick<EventsRepository, 'list'>; readonly queue: Pick<DeliveryQueue, 'send'> },
): Promise<number> {
  let sent = 0;
  // Event ids sort by creation time, so the window's start is a key: the smallest id an event at `since` can have.
  let afterId: string | undefined = firstEventIdAt(job.since);
  while (afterId !== undefined) {
    const page: Awaited<ReturnType<EventsRepository['list']>> = await deps.events.list(job.storeId, {
      afterId,
      untilTime: job.until,
      ...(job.types ? { types: job.types } : {}),
      limit: REPLAY_PAGE_SIZE,
    });
    const messages: DeliveryMessage[] = page.events.map((event) =>
      withEmbeddedEvent(
        {
          storeId: job.storeId,
          endpointId: job.endpointId,
          eventId: event.id,
          replayId: job.replayId,
          attempt: 1,
        },
        event,
      ),
    );
    if (messages.length > 0) await deps.queue.send(messages);
    sent += messages.length;
    afterId = page.next;
  }
  return sent;
}

/**
 * One replays queue message: its job parsed and run, and what it queued logged.
 * @throws when the body is not a replay job, or the job fails: the message is then reported and retried whole.
 */
export async function replayMessage(
  body: string,
  deps: Parameters<typeof runReplay>[1] & { readonly logger: Pick<WebhookLogger, 'info'> },
): Promise<void> {
  const job = replayJob.parse(JSON.parse(body));
  const sent = await runReplay(job, deps);
  deps.logger.info('replay queued', {
    storeId: job.storeId,
    endpointId: job.endpointId,
    replayId: job.replayId,
    since: new Date(job.since).toISOString(),
    until: new Date(job.until).toISOString(),
    deliveries: sent,
  });
}
