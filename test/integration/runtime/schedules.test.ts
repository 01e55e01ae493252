import { scheduleTemplate } from '../../fixtures/stacks';
import { startTestStack, type TestStack } from '../support/test-stack';
import { waitFor } from '../support/wait-for';

// Emulator round trips, visibility timeouts and retries: more than jest's default 5 s per test or hook.
jest.setTimeout(30_000);

interface ScheduleObservation {
  at: number;
  event: Record<string, unknown>;
}

describe('schedules', () => {
  let stack: TestStack;
  let startedAt = 0;

  beforeAll(async () => {
    startedAt = Date.now();
    // 120 times real time: rate(1 minute) fires every half second.
    stack = await startTestStack(scheduleTemplate(), { scheduleSpeed: 120 });
  });
  afterAll(() => stack.stop());

  it('fires a Scheduler rate() schedule with its input, and an EventBridge rule with a Scheduled Event', async () => {
    const observations = await waitFor(
      () => stack.observations<ScheduleObservation>('schedule'),
      (found) =>
        found.filter((o) => o.event.job === 'sweep').length >= 2 &&
        found.some((o) => o.event['detail-type'] === 'Scheduled Event'),
      { timeoutMs: 5000, what: 'two firings of the schedule and one of the rule' },
    );

    const ruleEvent = observations.find((o) => o.event['detail-type'] === 'Scheduled Event')?.event;
    expect(ruleEvent).toMatchObject({ source: 'aws.events', detail: {}, region: 'us-east-1' });
    expect(observations.find((o) => o.event.job === 'sweep')?.event).toEqual({ job: 'sweep' });
    // A minute of schedule time is half a second here, and no firing comes early.
    const sweeps = observations.filter((o) => o.event.job === 'sweep');
    expect(sweeps.length).toBeLessThanOrEqual(Math.floor((Date.now() - startedAt) / 500));
  });
});
