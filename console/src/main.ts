import { adminView } from './admin-view';
import { type Api, ApiError, createApi } from './api';
import { apiBaseFrom } from './base-path';
import { fill, h } from './dom';
import { clearSession, type KeyKind, loadSession, saveSession } from './session';
import { storeView } from './store-view';
import type { Page, RunView } from './types';
import { button, createNotifier, errorContent, type View } from './ui';

/**
 * The console's entry: the sign-in screen, or the view of the key kept for this tab. The key decides the view: the
 * API tells which kind it is (an admin route answers 200 to the admin key and 401 to anything else).
 */

const NOT_ACCEPTED =
  'This key was not accepted. Paste a store API key (shown once when the store was created) or the admin key.';

const base = apiBaseFrom(location.pathname);
const app = document.getElementById('app') as HTMLElement;
let current: View | undefined;

function leaveView(): void {
  current?.dispose();
  current = undefined;
}

function signOut(message?: string): void {
  leaveView();
  clearSession();
  showSignIn(message);
}

function apiFor(key: string): Api {
  return createApi({
    base,
    key,
    onUnauthorized: (error) =>
      signOut(`You were signed out: the API no longer accepts this key (${error.detail ?? error.title}).`),
  });
}

function showSignIn(message?: string): void {
  const input = h('input', {
    id: 'api-key',
    name: 'api-key',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const feedback = h('div', { id: 'sign-in-message', role: 'alert', class: 'notice error' });
  feedback.hidden = !message;
  if (message) fill(feedback, message);
  const submit = h('button', { type: 'submit', id: 'sign-in' }, 'Sign in');
  const form = h(
    'form',
    { id: 'sign-in-form', class: 'card sign-in' },
    h('h2', null, 'Sign in'),
    h(
      'p',
      null,
      "With a store's API key you see its webhook endpoints, their delivery attempts, its subscriptions and datafeeds. With the admin key you see the subscription runs, the queues and the reconciliations.",
    ),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
    h(
      'p',
      { class: 'muted' },
      'The key stays in this tab only (session storage) and is sent to this API alone. Closing the tab or signing out forgets it.',
    ),
    submit,
    feedback,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      fill(feedback, 'Paste a key first.');
      feedback.hidden = false;
      return;
    }
    submit.disabled = true;
    fill(feedback);
    feedback.hidden = true;
    void detect(key)
      .then((result) => {
        if (result.kind === 'rejected') {
          fill(feedback, NOT_ACCEPTED);
          feedback.hidden = false;
          input.select();
          return;
        }
        saveSession({ key, kind: result.kind });
        showConsole(key, result.kind, result.runs);
      })
      .catch((error) => {
        fill(feedback, ...errorContent(error, 'Signing in'));
        feedback.hidden = false;
      })
      .finally(() => {
        submit.disabled = false;
      });
  });
  fill(app, header(), h('main', { id: 'main' }, form));
  input.focus();
}

/** Which kind of key this is: the admin routes answer 200 only to the admin key, the store routes to a store key. */
async function detect(key: string): Promise<{ kind: KeyKind; runs?: RunView[] } | { kind: 'rejected' }> {
  const probe = createApi({ base, key });
  try {
    const runs = await probe.get<Page<RunView>>('v1/admin/subscription-runs', { days: 30 });
    return { kind: 'admin', runs: runs.data };
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
  }
  try {
    await probe.get('v1/webhooks');
    return { kind: 'store' };
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return { kind: 'rejected' };
    throw error;
  }
}

function header(kind?: KeyKind): HTMLElement {
  return h(
    'header',
    { class: 'top' },
    h('h1', null, 'commerce-pipeline console'),
    kind
      ? h(
          'div',
          { class: 'tools' },
          h(
            'span',
            { id: 'signed-in-as', class: `badge badge-${kind}` },
            kind === 'admin' ? 'Admin' : 'Store',
          ),
          button('Sign out', () => signOut('Signed out.'), { id: 'sign-out', class: 'secondary' }),
        )
      : null,
  );
}

function showConsole(key: string, kind: KeyKind, runs?: RunView[]): void {
  leaveView();
  const { element: messages, notifier } = createNotifier();
  const api = apiFor(key);
  current = kind === 'admin' ? adminView(api, notifier, runs) : storeView(api, notifier);
  fill(app, header(kind), h('main', { id: 'main', 'data-view': kind }, messages, current.root));
}

const session = loadSession();
if (session) showConsole(session.key, session.kind);
else showSignIn();
