import { ApiError } from './api';
import { type Child, fill, h } from './dom';

/** A view on screen: its element, and what stops its timers when it is left. */
export interface View {
  readonly root: HTMLElement;
  dispose(): void;
}

/** Where views tell what an action did or why it failed: a polite status line and an alert for errors. */
export interface Notifier {
  info(message: string): void;
  error(error: unknown, context?: string): void;
  clear(): void;
}

export function createNotifier(): { element: HTMLElement; notifier: Notifier } {
  const status = h('p', { id: 'status', role: 'status', 'aria-live': 'polite', class: 'notice' });
  const alert = h('div', { id: 'error', role: 'alert', class: 'notice error' });
  status.hidden = true;
  alert.hidden = true;
  const element = h('div', { class: 'messages' }, status, alert);
  return {
    element,
    notifier: {
      info: (message) => {
        alert.hidden = true;
        fill(status, message);
        status.hidden = false;
      },
      error: (error, context) => {
        status.hidden = true;
        fill(alert, ...errorContent(error, context));
        alert.hidden = false;
      },
      clear: () => {
        status.hidden = true;
        alert.hidden = true;
      },
    },
  };
}

/** A failed call as text: its title (and the action it was) in bold, the detail after it. */
export function errorContent(error: unknown, context?: string): Child[] {
  const title =
    error instanceof ApiError
      ? error.status
        ? `${error.title} (${error.status})`
        : error.title
      : 'Something went wrong';
  const detail =
    error instanceof ApiError ? error.detail : error instanceof Error ? error.message : String(error);
  return [
    h('strong', { class: 'problem-title' }, context ? `${context}: ${title}` : title),
    detail ? h('span', { class: 'problem-detail' }, ` ${detail}`) : null,
  ];
}

export interface Column<T> {
  readonly label: string;
  readonly cell: (row: T) => Child | Child[];
  readonly className?: string;
}

/**
 * A table inside a horizontally scrolling region (narrow screens scroll the table, not the page); the region is
 * focusable so that a keyboard can scroll it too.
 */
export function table<T>(
  caption: string,
  columns: readonly Column<T>[],
  rows: readonly T[],
  options: { id?: string; empty?: string; rowClass?: (row: T) => string | undefined } = {},
): HTMLElement {
  if (rows.length === 0) {
    return h(
      'p',
      { class: 'empty', ...(options.id ? { id: options.id } : {}) },
      options.empty ?? 'Nothing yet.',
    );
  }
  const head = h('tr', null, ...columns.map((column) => h('th', { scope: 'col' }, column.label)));
  const body = rows.map((row) => {
    const cells = columns.map((column) => {
      const content = column.cell(row);
      return h(
        'td',
        column.className ? { class: column.className } : null,
        ...(Array.isArray(content) ? content : [content]),
      );
    });
    return h('tr', { class: options.rowClass?.(row) }, ...cells);
  });
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0 },
    h(
      'table',
      options.id ? { id: options.id } : null,
      h('caption', { class: 'visually-hidden' }, caption),
      h('thead', null, head),
      h('tbody', null, ...body),
    ),
  );
}

export function button(
  label: string,
  onClick: (button: HTMLButtonElement) => unknown,
  attributes: Record<string, string | boolean | undefined> = {},
): HTMLButtonElement {
  const element = h('button', { type: 'button', ...attributes }, label);
  element.addEventListener('click', () => void onClick(element));
  return element;
}

/** Runs an action with its button disabled and marked busy, so that a double click sends one request. */
export async function busy<T>(control: HTMLButtonElement, action: () => Promise<T>): Promise<T | undefined> {
  if (control.disabled) return undefined;
  control.disabled = true;
  control.setAttribute('aria-busy', 'true');
  try {
    return await action();
  } finally {
    control.disabled = false;
    control.removeAttribute('aria-busy');
  }
}

/** A section with its heading and a row of tools beside the heading. */
export function section(
  id: string,
  title: string,
  tools: Child[],
  ...children: Child[]
): { element: HTMLElement; body: HTMLElement } {
  const body = h('div', { class: 'section-body' }, ...children);
  const element = h(
    'section',
    { id, 'aria-labelledby': `${id}-title` },
    h(
      'div',
      { class: 'section-head' },
      h('h2', { id: `${id}-title` }, title),
      h('div', { class: 'tools' }, ...tools),
    ),
    body,
  );
  return { element, body };
}

export function badge(textValue: string, kind: string): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, textValue);
}

export function loading(what: string): HTMLElement {
  return h('p', { class: 'loading' }, `Loading ${what}…`);
}
