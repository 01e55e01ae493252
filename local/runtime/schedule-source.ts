import { randomUUID } from 'node:crypto';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from '../aws-clients';
import type { EventSource } from './event-source';
import type { LocalFunction } from './local-function';
import { parseScheduleExpression } from './schedule-expression';

export interface ScheduleSourceProps {
  /** The schedule's or rule's name, for logs. */
  readonly name: string;
  readonly arn: string;
  readonly expression: string;
  readonly function: LocalFunction;
  /**
   * The target's Input (JSON text), sent as the event.
   * @default - the payload AWS sends: `{}` from EventBridge Scheduler, a "Scheduled Event" from an EventBridge rule
   */
  readonly input?: string;
  readonly kind: 'scheduler' | 'rule';
  /**
   * How much faster than real time the schedule runs: 60 fires a `rate(1 minute)` schedule every second.
   * Only for tests, which cannot wait a minute.
   * @default 1
   */
  readonly speed?: number;
  /** Called with each failed invocation (Lambda's asynchronous invocation would retry it twice, then drop it). */
  readonly onError?: (error: unknown) => void;
}

/** Invokes a function on an EventBridge schedule, asynchronously (a slow run does not delay the next one). */
export function startScheduleSource(props: ScheduleSourceProps): EventSource {
  const speed = props.speed ?? 1;
  const realStart = Date.now();
  const virtualNow = () => new Date(realStart + (Date.now() - realStart) * speed);
  const schedule = parseScheduleExpression(props.expression, virtualNow());
  const inFlight = new Set<Promise<unknown>>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  // A paused schedule skips its firings, as a disabled schedule or rule does; it keeps its timer running.
  let paused = false;

  const arm = (after: Date) => {
    const fireAt = schedule.next(after);
    if (!fireAt || stopped) return;
    const delayMs = Math.max(0, (fireAt.getTime() - virtualNow().getTime()) / speed);
    timer = setTimeout(() => {
      if (paused) return arm(fireAt);
      const invocation = props.function
        .invoke(scheduledEvent(props, fireAt))
        .catch((error) => props.onError?.(error))
        .finally(() => inFlight.delete(invocation));
      inFlight.add(invocation);
      arm(fireAt);
    }, delayMs);
  };
  arm(virtualNow());

  return {
    description: `${props.expression} → ${props.function.props.name}`,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(inFlight);
    },
    pause: async () => {
      paused = true;
      await Promise.all(inFlight);
    },
    resume: () => {
      paused = false;
    },
  };
}

function scheduledEvent(props: ScheduleSourceProps, time: Date): unknown {
  if (props.input !== undefined) return JSON.parse(props.input);
  if (props.kind === 'scheduler') return {};
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: LOCAL_ACCOUNT_ID,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: LOCAL_REGION,
    resources: [props.arn],
    detail: {},
  };
}
