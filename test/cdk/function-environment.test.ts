import { Token } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { API_FUNCTION_VARIABLES } from '../../lambdas/api/function-variables';
import {
  BILLING_OUTBOX_FUNCTION_VARIABLES,
  CHARGE_FUNCTION_VARIABLES,
  RUN_FUNCTION_VARIABLES,
} from '../../lambdas/billing/function-variables';
import { NOTIFY_FUNCTION_VARIABLES } from '../../lambdas/notifications/function-variables';
import { RESOURCES, type VariableName } from '../../lambdas/platform/config/variables';
import {
  DELIVER_FUNCTION_VARIABLES,
  FANOUT_FUNCTION_VARIABLES,
  REPLAY_FUNCTION_VARIABLES,
} from '../../lambdas/webhooks/function-variables';
import { createPipelineApp } from '../../lib/app';
import { functionEnvironment } from '../../lib/constructs/function-environment';
import type { PipelineStackProps } from '../../lib/pipeline-stack';
import type { PipelineSettings } from '../../lib/settings';

const synth = (stackProps: Partial<PipelineStackProps> = {}) =>
  Template.fromStack(createPipelineApp({ bundle: false, nag: false, stackProps }).stack);

/** Each handler entry's variable list: what its handler reads with `readConfig`. */
const LISTS: Record<string, readonly VariableName[]> = {
  'lambdas/api/handlers/api.ts': API_FUNCTION_VARIABLES,
  'lambdas/webhooks/handlers/fanout.ts': FANOUT_FUNCTION_VARIABLES,
  'lambdas/webhooks/handlers/deliver.ts': DELIVER_FUNCTION_VARIABLES,
  'lambdas/webhooks/handlers/replay.ts': REPLAY_FUNCTION_VARIABLES,
  'lambdas/billing/handlers/run.ts': RUN_FUNCTION_VARIABLES,
  'lambdas/billing/handlers/charge.ts': CHARGE_FUNCTION_VARIABLES,
  'lambdas/billing/handlers/billing-outbox.ts': BILLING_OUTBOX_FUNCTION_VARIABLES,
  'lambdas/notifications/handlers/notify.ts': NOTIFY_FUNCTION_VARIABLES,
  // The index readiness handlers read no configuration.
  'lambdas/index-gate/handlers/index-readiness.ts': [],
};
/** What PipelineFunction gives every function. */
const BASE_VARIABLES = [
  'NODE_OPTIONS',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
  'POWERTOOLS_LOG_LEVEL',
];

type FunctionResource = {
  Properties: { Environment: { Variables: Record<string, unknown> }; Timeout: number };
  Metadata?: Record<string, unknown>;
};

function pipelineFunctions(template: Template): [string, FunctionResource][] {
  return (Object.values(template.findResources('AWS::Lambda::Function')) as FunctionResource[])
    .filter((fn) => fn.Metadata?.['commerce-pipeline:entry'] !== undefined)
    .map((fn) => [String(fn.Metadata?.['commerce-pipeline:entry']), fn]);
}

describe('every function gets the variables its list names, and no other', () => {
  // Every setting a function may read set, so that a setting passed to a function that does not list it shows.
  const everySetting: PipelineSettings = {
    PAYMENT_GATEWAY_URL: 'https://gateway.example.com',
    PAYMENT_GATEWAY_TIMEOUT_MS: '12000',
    PAYMENT_GATEWAY_RATE_LIMIT: '40',
    SMTP_URL: 'smtp://mail.example.com:587',
    EMAIL_FROM: 'billing@shop.example.com',
    WEBHOOK_RETRY_SCHEDULE: '0s,1m',
    WEBHOOK_TIMEOUT_MS: '10000',
    WEBHOOK_DISABLE_AFTER: '3d',
    DUNNING_SCHEDULE: '1d,2d',
    DUNNING_FINAL_ACTION: 'unpaid',
    PAYMENT_PROCESSING_POLL: '10m',
    RECONCILE_AFTER: '2h',
    SECRETS_CACHE_SECONDS: '60',
  };

  test.each([
    ['the defaults', synth()],
    ['every setting set', synth({ settings: everySetting })],
  ])('with %s', (_case, template) => {
    const functions = pipelineFunctions(template);
    expect(new Set(functions.map(([entry]) => entry))).toEqual(new Set(Object.keys(LISTS)));
    for (const [entry, fn] of functions) {
      const list = LISTS[entry] ?? [];
      const names = Object.keys(fn.Properties.Environment.Variables);
      expect({ entry, extra: names.filter((name) => ![...list, ...BASE_VARIABLES].includes(name)) }).toEqual({
        entry,
        extra: [],
      });
      // Every resource the list names is wired in (NOTIFICATIONS_QUEUE_URL too: this stack sends emails).
      const resources = list.filter((name) => name in RESOURCES);
      expect({ entry, missing: resources.filter((name) => !names.includes(name)) }).toEqual({
        entry,
        missing: [],
      });
    }
  });

  test('a setting reaches the functions whose list names it', () => {
    const template = synth({ settings: { EMAIL_FROM: 'billing@shop.example.com' } });
    for (const [entry, fn] of pipelineFunctions(template)) {
      expect({ entry, value: fn.Properties.Environment.Variables.EMAIL_FROM }).toEqual({
        entry,
        value: LISTS[entry]?.includes('EMAIL_FROM') ? 'billing@shop.example.com' : undefined,
      });
    }
  });
});

describe('values are checked at synth with the schema the function parses them with', () => {
  test('a bad PAYMENT_GATEWAY_TIMEOUT_MS fails synth, naming the variable, as WEBHOOK_TIMEOUT_MS does', () => {
    for (const [name, value] of [
      ['PAYMENT_GATEWAY_TIMEOUT_MS', '10s'],
      ['PAYMENT_GATEWAY_TIMEOUT_MS', '0'],
      ['WEBHOOK_TIMEOUT_MS', '15s'],
    ] as const) {
      expect(() => synth({ settings: { [name]: value } })).toThrow(
        new RegExp(`${name} must be (a whole number|greater than 0) .*\\(got "${value}"\\)`),
      );
    }
  });

  test('PAYMENT_GATEWAY_RATE_LIMIT reaches the functions that ask the gateway, and a bad one fails synth', () => {
    const variables = (template: Template, suffix: string) =>
      pipelineFunctions(template).find(([entry]) => entry.endsWith(suffix))?.[1].Properties.Environment
        .Variables;
    const template = synth({ settings: { PAYMENT_GATEWAY_RATE_LIMIT: '25.5' } });
    expect(variables(template, '/charge.ts')?.PAYMENT_GATEWAY_RATE_LIMIT).toBe('25.5');
    expect(variables(template, '/run.ts')?.PAYMENT_GATEWAY_RATE_LIMIT).toBe('25.5');
    expect(variables(template, '/api.ts')?.PAYMENT_GATEWAY_RATE_LIMIT).toBeUndefined();
    // Unset, it is the functions' own default (80), not written into the template.
    expect(variables(synth(), '/charge.ts')?.PAYMENT_GATEWAY_RATE_LIMIT).toBeUndefined();
    for (const value of ['0', '-1', 'fast', '80/s']) {
      expect(() => synth({ settings: { PAYMENT_GATEWAY_RATE_LIMIT: value } })).toThrow(
        new RegExp(`PAYMENT_GATEWAY_RATE_LIMIT must be .*\\(got "${value}"\\)`),
      );
    }
  });

  test('PAYMENT_GATEWAY_TIMEOUT_MS sizes ChargeFunction: max(30 s, 2 x the timeout + 15 s)', () => {
    const timeoutOf = (template: Template) =>
      pipelineFunctions(template).find(([entry]) => entry.endsWith('/charge.ts'))?.[1].Properties.Timeout;
    expect(timeoutOf(synth())).toBe(35);
    expect(timeoutOf(synth({ settings: { PAYMENT_GATEWAY_TIMEOUT_MS: ' 20000 ' } }))).toBe(55);
  });

  test.each([
    [
      'a negative rate',
      { rateLimit: -1, burstLimit: 10 },
      /STORE_RATE_LIMIT must be a number of requests per second/,
    ],
    [
      'a rate that is no number',
      { rateLimit: Number.NaN, burstLimit: 10 },
      /STORE_RATE_LIMIT .*\(got "NaN"\)/,
    ],
    ['a negative burst', { rateLimit: 1, burstLimit: -5 }, /STORE_BURST_LIMIT must be a number of requests/],
  ])('storeThrottle with %s fails synth, naming the variable', (_case, storeThrottle, message) => {
    expect(() => synth({ storeThrottle })).toThrow(message);
  });

  test('a bad URL setting fails synth, naming it', () => {
    expect(() => synth({ settings: { SMTP_URL: 'mail.example.com' } })).toThrow(
      /SMTP_URL must be a URL starting with smtp:\/\/ or smtps:\/\//,
    );
  });
});

describe('secrets and unknown names are refused', () => {
  test.each(['ADMIN_API_KEY', 'DEMO_STORE_API_KEY', 'PAYMENT_GATEWAY_API_KEY'])(
    'the secret setting %s',
    (name) => {
      expect(() => synth({ settings: { [name]: 'sk_live_abcdefghijklmnop' } as PipelineSettings })).toThrow(
        new RegExp(`${name} is a secret; it belongs in Secrets Manager`),
      );
    },
  );

  test('a name that is no setting (a resource, or a typo)', () => {
    for (const name of ['STORES_TABLE_NAME', 'WEBHOOK_TIMEOUT']) {
      expect(() => synth({ settings: { [name]: 'x' } as PipelineSettings })).toThrow(
        new RegExp(`${name} is not a setting`),
      );
    }
  });

  test('a variable list naming a secret setting', () => {
    expect(() =>
      functionEnvironment('TestFunction', ['EMAIL_FROM', 'PAYMENT_GATEWAY_API_KEY'], {
        settings: {},
        values: {},
      }),
    ).toThrow(/TestFunction: PAYMENT_GATEWAY_API_KEY is a secret setting/);
  });
});

describe('functionEnvironment', () => {
  const list = ['EVENTS_TABLE_NAME', 'NOTIFICATIONS_QUEUE_URL', 'EMAIL_FROM', 'RUN_PAGE_SIZE'] as const;
  const tableName = Token.asString({ Ref: 'EventsTable' });

  test('passes the list only: its resources, its settings, its tuning; tokens are not checked', () => {
    expect(
      functionEnvironment('TestFunction', list, {
        settings: { EMAIL_FROM: 'a@example.com', SMTP_URL: 'smtp://mail.example.com' },
        values: { EVENTS_TABLE_NAME: tableName, RUN_PAGE_SIZE: '50' },
      }),
    ).toEqual({ EVENTS_TABLE_NAME: tableName, EMAIL_FROM: 'a@example.com', RUN_PAGE_SIZE: '50' });
  });

  test('requires a value for every required resource of the list, at compile time and at synth', () => {
    expect(() =>
      // @ts-expect-error EVENTS_TABLE_NAME is required: the list names it and its schema has no default.
      functionEnvironment('TestFunction', list, { settings: {}, values: { RUN_PAGE_SIZE: '50' } }),
    ).toThrow(/TestFunction: no value for the resource\(s\) EVENTS_TABLE_NAME/);
  });

  test('refuses a value for a variable the list does not name', () => {
    expect(() =>
      functionEnvironment('TestFunction', list, {
        settings: {},
        // @ts-expect-error RUNS_TABLE_NAME is not in the list.
        values: { EVENTS_TABLE_NAME: tableName, RUNS_TABLE_NAME: 'runs' },
      }),
    ).toThrow(/TestFunction: RUNS_TABLE_NAME is not in the function's variable list/);
  });

  test('checks a literal tuning value with its schema', () => {
    expect(() =>
      functionEnvironment('TestFunction', list, {
        settings: {},
        values: { EVENTS_TABLE_NAME: tableName, RUN_PAGE_SIZE: '0' },
      }),
    ).toThrow(/TestFunction: variable RUN_PAGE_SIZE must be at least 1 subscriptions \(got "0"\)/);
  });
});
