import { type CfnElement, type Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { stackLevelLogicalId } from './constructs/stack-level-ids';
import { Api, type HttpApiThrottle } from './features/api';
import { Billing } from './features/billing';
import type { RunSchedules } from './features/billing-schedules';
import { Notifications } from './features/notifications';
import { Observability } from './features/observability';
import { Webhooks } from './features/webhooks';
import { deploymentSettings, type PipelineSettings } from './settings';

export { LOCAL_VALUE_FROM_METADATA_KEY } from './constructs/local-value';
export type { HttpApiThrottle } from './features/api';
export type { RunSchedules } from './features/billing-schedules';
export type { PipelineSettings } from './settings';

export interface PipelineStackProps extends StackProps {
  /**
   * Whether the tables refuse deletion. Turn off only for throw-away stacks.
   * @default true
   */
  readonly deletionProtection?: boolean;
  /**
   * Retention of the function and access log groups.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Throttle of the HTTP API's default stage: past it, clients get 429 instead of a cascade of timeouts.
   * @default { rateLimit: 1000, burstLimit: 2000 }
   */
  readonly httpApiThrottle?: HttpApiThrottle;
  /**
   * Public settings for the deployed functions (each gets those its variable list names), over the deployed
   * defaults (`WEBHOOK_ALLOW_PRIVATE_TARGETS=false`). Every value is checked at synth with the schema the functions
   * parse it with; secret settings are refused (they live in Secrets Manager).
   * @default - the deployed defaults only
   */
  readonly settings?: PipelineSettings;
  /**
   * Concurrent invocations of DeliverFunction at most: bounds the parallel webhook POSTs (and the Lambda
   * concurrency they hold while endpoints answer). AWS accepts 2 to 1000.
   * @default 10
   */
  readonly deliveryConcurrency?: number;
  /**
   * When the day's subscription run is triggered.
   * @default - primary 00:05 UTC, backup 02:05 UTC
   */
  readonly runSchedules?: RunSchedules;
  /**
   * Concurrent invocations of ChargeFunction at most, fixed, instead of the concurrency computed from the gateway's
   * rate limit (see `paymentGatewayLatency`). The gateway itself is protected by PAYMENT_GATEWAY_RATE_LIMIT, a rate
   * shared by every environment. AWS accepts 2 to 1000.
   * @default - computed: min(chargeConcurrencyCap, max(2, ceil(PAYMENT_GATEWAY_RATE_LIMIT × paymentGatewayLatency / 10) + 2)), 6 at the defaults
   */
  readonly chargeConcurrency?: number;
  /**
   * The gateway's expected latency per charge: with PAYMENT_GATEWAY_RATE_LIMIT it sizes the charge consumer's
   * concurrency to reach the rate and no more (formula on `BillingProps.paymentGatewayLatency`).
   * @default Duration.millis(400)
   */
  readonly paymentGatewayLatency?: Duration;
  /**
   * The most concurrent ChargeFunction invocations the computed concurrency may reach. AWS accepts 2 to 1000.
   * @default 100
   */
  readonly chargeConcurrencyCap?: number;
  /**
   * Concurrency reserved for ApiFunction, so that consumers (fan-out, deliveries, charges) can never take the
   * executions the storefronts' requests need. It is also the API's ceiling: with the stage throttle it bounds
   * what a spike can reach. Needs that much unreserved concurrency in the account.
   * @default 50
   */
  readonly apiReservedConcurrency?: number;
  /**
   * Each store's request rate through the API, across all API execution environments: each keeps a token bucket
   * per store and syncs its per-window counts to the idempotency table every 250 ms at most (no write per request;
   * a failed sync falls back to the environment's bucket). Over it a store gets 429 with Retry-After, whatever the
   * others do; the account-wide ceiling is the stage throttle.
   * @default { rateLimit: 100, burstLimit: 200 }
   */
  readonly storeThrottle?: HttpApiThrottle;
  /**
   * An email address subscribed to the alarm topic (it must confirm the subscription).
   * @default - none: subscribe to the AlarmTopicArn output yourself
   */
  readonly alarmEmail?: string;
}

/**
 * The commerce pipeline in AWS, as one construct per feature, each with its resources, alarms and outputs: the
 * webhook side, the subscription side, the HTTP API, the emails, and the dashboard and alarm topic over them all.
 *
 * The features' resources keep the logical IDs they were first deployed with on the stack (see
 * constructs/stack-level-ids.ts): moving them into the features replaces nothing.
 */
export class PipelineStack extends Stack {
  public readonly webhooks: Webhooks;
  public readonly billing: Billing;
  public readonly api: Api;
  public readonly notifications: Notifications;
  public readonly observability: Observability;

  constructor(scope: Construct, id: string, props: PipelineStackProps = {}) {
    super(scope, id, props);
    const common = {
      settings: deploymentSettings(props.settings),
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      deletionProtection: props.deletionProtection,
    };

    this.webhooks = new Webhooks(this, 'Webhooks', {
      ...common,
      deliveryConcurrency: props.deliveryConcurrency,
    });
    this.billing = new Billing(this, 'Billing', {
      ...common,
      eventsTable: this.webhooks.eventsTable,
      runSchedules: props.runSchedules,
      chargeConcurrency: props.chargeConcurrency,
      paymentGatewayLatency: props.paymentGatewayLatency,
      chargeConcurrencyCap: props.chargeConcurrencyCap,
    });
    this.api = new Api(this, 'Api', {
      ...common,
      webhooks: this.webhooks,
      billing: this.billing,
      httpApiThrottle: props.httpApiThrottle,
      reservedConcurrency: props.apiReservedConcurrency,
      storeThrottle: props.storeThrottle,
    });
    this.notifications = new Notifications(this, 'Notifications', {
      ...common,
      logTable: this.api.idempotencyTable,
      manageLinks: { keySecret: this.api.manageLinkKeySecret, baseUrl: this.api.publicUrl },
    });
    this.billing.useManageLinks({ keySecret: this.api.manageLinkKeySecret, baseUrl: this.api.publicUrl });
    this.webhooks.fanOutNotificationsTo(this.notifications.queue);
    this.api.operateNotificationsQueue(this.notifications.queue);

    this.observability = new Observability(this, 'Observability', {
      httpApi: this.api.httpApi,
      apiFunction: this.api.apiFunction,
      deliverFunction: this.webhooks.deliverFunction,
      runFunction: this.billing.runFunction,
      chargeFunction: this.billing.chargeFunction,
      features: [this.api, this.webhooks, this.billing, this.notifications].map(
        (feature) => feature.observed,
      ),
      alarmEmail: props.alarmEmail,
    });
    this.observability.notifyOnEveryAlarm();
  }

  /** Keeps the logical IDs of resources created before the feature constructs (constructs/stack-level-ids.ts). */
  protected override allocateLogicalId(element: CfnElement): string {
    return stackLevelLogicalId(element);
  }
}
