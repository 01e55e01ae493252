/**
 * The key of the signed-in tab, in sessionStorage only: it goes with the tab, is never written to localStorage, a
 * cookie or a URL, and signing out removes it.
 */

export type KeyKind = 'store' | 'admin';

export interface Session {
  readonly key: string;
  readonly kind: KeyKind;
}

const STORAGE_KEY = 'commerce-pipeline.console.session';

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return undefined;
    const parsed = JSON.parse(raw) as Partial<Session>;
    if (typeof parsed.key === 'string' && (parsed.kind === 'store' || parsed.kind === 'admin')) {
      return { key: parsed.key, kind: parsed.kind };
    }
  } catch {
    // Storage blocked or a value from elsewhere: signed out.
  }
  return undefined;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(session));
}

export function clearSession(): void {
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing was stored.
  }
}
