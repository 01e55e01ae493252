import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FunctionTimeoutError, LocalFunction } from '../../local/runtime/local-function';

// The local runtime's invocation counter, which the bench's cost section prices (bench/cost.ts): invocations and
// the handler's own duration, rounded up per invocation as Lambda bills it.

const dir = mkdtempSync(path.join(tmpdir(), 'local-function-stats-'));
const bundlePath = path.join(dir, 'handler.cjs');
writeFileSync(
  bundlePath,
  `exports.handler = async (event) => {
     await new Promise((resolve) => setTimeout(resolve, event.ms));
     if (event.fail) throw new Error('boom');
     return { ok: true };
   };`,
);

const fns: LocalFunction[] = [];
function localFunction(timeoutMs = 5_000): LocalFunction {
  const fn = new LocalFunction({
    logicalId: 'StatsFunction',
    name: 'stats-function',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:stats-function',
    entry: 'test/handler.ts',
    bundlePath,
    handlerName: 'handler',
    timeoutMs,
    memorySize: 128,
    concurrency: 2,
    environment: {},
  });
  fns.push(fn);
  return fn;
}

afterAll(async () => {
  await Promise.all(fns.map((fn) => fn.stop(100)));
  rmSync(dir, { recursive: true, force: true });
});

test('a new function has counted nothing', () => {
  expect(localFunction().stats()).toEqual({ invocations: 0, durationMs: 0, billedDurationMs: 0 });
});

test('counts each invocation, failed ones too, with the handler time rounded up per invocation', async () => {
  const fn = localFunction();
  await fn.invoke({ ms: 40 });
  await fn.invoke({ ms: 40 });
  await expect(fn.invoke({ ms: 20, fail: true })).rejects.toThrow('boom');
  const stats = fn.stats();
  expect(stats.invocations).toBe(3);
  // Timers may fire a little early or late; the worker's start (init) is not counted.
  expect(stats.durationMs).toBeGreaterThanOrEqual(95);
  expect(stats.durationMs).toBeLessThan(1_000);
  expect(stats.billedDurationMs).toBeGreaterThanOrEqual(stats.durationMs);
  expect(stats.billedDurationMs).toBeLessThanOrEqual(stats.durationMs + 3);
});

test('a timed-out invocation counts the whole timeout', async () => {
  const fn = localFunction(150);
  await expect(fn.invoke({ ms: 2_000 })).rejects.toBeInstanceOf(FunctionTimeoutError);
  expect(fn.stats()).toEqual({ invocations: 1, durationMs: 150, billedDurationMs: 150 });
});

test('stats() is a copy: later invocations do not change an earlier snapshot', async () => {
  const fn = localFunction();
  const before = fn.stats();
  await fn.invoke({ ms: 1 });
  expect(before.invocations).toBe(0);
  expect(fn.stats().invocations).toBe(1);
});
