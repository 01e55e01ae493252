/**
 * Sample data for each trigger: webhook bodies as the pipeline sends them (docs/api.md section 4,
 * `{id, type, createdAt, storeId, data}`), shown in the Zap editor before a real event has arrived.
 */

const subscription = {
  id: 'sub_ana',
  customer: { id: 'cus_ana', email: 'ana@example.com' },
  plan: 'coffee-monthly',
  amount: 1999,
  currency: 'USD',
  interval: 'month',
  intervalCount: 1,
};

export const transactionCreated = {
  id: 'evt_01JF3Z8Q4W6X2M9D5R7T1V3B8N',
  type: 'transaction.created',
  createdAt: '2026-12-07T09:14:03.120Z',
  storeId: 'acme',
  data: {
    id: 'order-1001',
    customer: { id: 'cus_ana', email: 'ana@example.com' },
    currency: 'USD',
    total: 2500,
    items: [{ sku: 'MUG', name: 'Mug', quantity: 1, unitPrice: 2500 }],
    metadata: { channel: 'web' },
    createdAt: '2026-12-07T09:14:03.120Z',
  },
};

export const subscriptionCharged = {
  id: 'evt_01JF40A2C5E7G9J1K3M5P7R9T1',
  type: 'subscription.charged',
  createdAt: '2026-12-07T00:02:11.482Z',
  storeId: 'acme',
  data: {
    subscription: { ...subscription, status: 'active', nextChargeAt: '2027-01-07T00:00:00.000Z' },
    charge: {
      period: '2026-12-07',
      attempt: 0,
      amount: 1999,
      currency: 'USD',
      runId: '2026-12-07',
      at: '2026-12-07T00:02:11.482Z',
      paymentIntentId: 'pi_3QhX2b4c5d6e7f8g',
    },
  },
};

export const paymentFailed = {
  id: 'evt_01JF40B7D9F1H3K5M7P9R1T3V5',
  type: 'subscription.payment_failed',
  createdAt: '2026-12-07T00:02:12.907Z',
  storeId: 'acme',
  data: {
    subscription: { ...subscription, status: 'past_due', nextChargeAt: '2026-12-08T00:02:12.907Z' },
    charge: {
      period: '2026-12-07',
      attempt: 0,
      amount: 1999,
      currency: 'USD',
      runId: '2026-12-07',
      at: '2026-12-07T00:02:12.907Z',
      declineCode: 'insufficient_funds',
      message: 'Your card has insufficient funds.',
    },
    dunning: { attempt: 1, nextRetryAt: '2026-12-08T00:02:12.907Z', declineCode: 'insufficient_funds' },
  },
};

export const subscriptionCanceled = {
  id: 'evt_01JF4C9E2G4J6K8N0Q2S4T6W8Y',
  type: 'subscription.canceled',
  createdAt: '2026-12-07T15:40:27.301Z',
  storeId: 'acme',
  data: {
    subscription: { ...subscription, status: 'canceled' },
    reason: 'requested',
    canceledAt: '2026-12-07T15:40:27.301Z',
  },
};
