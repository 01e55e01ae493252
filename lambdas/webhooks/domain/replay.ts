import { type EventsRepository, firstEventIdAt } from '../../events/domain/events';
import type { AttemptsRepository } from './attempts';
import type { WebhookLogger } from './delivery';
import {
  type DeliveryMessage,
  type DeliveryQueue,
  type ReplayJob,
  refeedJob,
  withEmbeddedEvent,
} from './messages';

/**
 * Replay (refeed): every event of a time window, optionally of some types, delivered again to one endpoint, even
 * those delivered before. Each message carries the job's `replayId`, which makes it a delivery of its own in the
 * attempt log. Running a job twice (a redelivered queue message) sends the messages again; delivery's lease on
 * (endpoint, event, replayId) makes the copies harmless.
 *
 * The endpoint's own event filter is applied at delivery (an endpoint is sent only the types it wants).
 *
 * Recover (`trigger: 'recover'`) is the replay that does not duplicate: an event of the window with a delivery to
 * the endpoint that succeeded (scheduled, replayed, recovered or resent) is left out, read per page as one key range
 * of the endpoint's attempts. The rest (failed, exhausted, or never sent while the endpoint was disabled) is sent
 * under the recovery's id, so a recovered delivery that succeeds is left out by the next recover.
 */
const REPLAY_PAGE_SIZE = 100;

/** The number of delivery messages sent. */
export async function runReplay(
  job: ReplayJob,
  deps: {
    readonly events: Pick<EventsRepository, 'list'>;
    readonly queue: Pick<DeliveryQueue, 'send'>;
    /** Needed by a recover only. */
    readonly attempts?: Pick<AttemptsRepository, 'succeededEventIds'>;
  },
): Promise<number> {
  const recover = job.trigger === 'recover';
  if (recover && !deps.attempts) throw new Error('A recover needs the attempts repository.');
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
    const first = page.events[0];
    const last = page.events.at(-1);
    const delivered =
      recover && deps.attempts && first && last
        ? await deps.attempts.succeededEventIds(job.endpointId, first.id, last.id)
        : new Set<string>();
    const messages: DeliveryMessage[] = page.events
      .filter((event) => !delivered.has(event.id))
      .map((event) =>
        withEmbeddedEvent(
          {
            storeId: job.storeId,
            endpointId: job.endpointId,
            eventId: event.id,
            replayId: job.replayId,
            trigger: recover ? 'recover' : 'replay',
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
 * One replays queue message: its job parsed and run, and what it queued logged. A resend's or a test's single
 * delivery message is forwarded as it is.
 * @throws when the body is not a job, or the job fails: the message is then reported and retried whole.
 */
export async function replayMessage(
  body: string,
  deps: Parameters<typeof runReplay>[1] & { readonly logger: Pick<WebhookLogger, 'info'> },
): Promise<void> {
  const job = refeedJob.parse(JSON.parse(body));
  if ('delivery' in job) {
    await deps.queue.send([job.delivery]);
    deps.logger.info('delivery queued', {
      storeId: job.delivery.storeId,
      endpointId: job.delivery.endpointId,
      eventId: job.delivery.eventId,
      trigger: job.delivery.trigger,
    });
    return;
  }
  const sent = await runReplay(job, deps);
  deps.logger.info(job.trigger === 'recover' ? 'recovery queued' : 'replay queued', {
    storeId: job.storeId,
    endpointId: job.endpointId,
    replayId: job.replayId,
    since: new Date(job.since).toISOString(),
    until: new Date(job.until).toISOString(),
    deliveries: sent,
  });
}
