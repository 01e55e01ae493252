import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * `npm start` records where its stack listens in `.local/stack.json` (git-ignored, owner-only), so that
 * `npx pipeline` finds the local stack without flags. It holds the local admin key: local-only, like a
 * developer's .env file, and removed when the stack stops.
 */
export interface LocalStackFile {
  readonly apiUrl: string;
  readonly adminApiKey: string;
  readonly pid: number;
  readonly endpoints: { readonly dynamodb: string; readonly sqs: string; readonly s3: string };
  /** What the functions charge through: the bundled gateway, or PAYMENT_GATEWAY_URL. */
  readonly paymentGatewayUrl?: string;
  /** Where the functions send mail: the bundled SMTP sink, or SMTP_URL. */
  readonly smtpUrl?: string;
  readonly resources?: Readonly<Record<string, string>>;
}

export const LOCAL_STACK_FILE = join(__dirname, '..', '.local', 'stack.json');

export function writeLocalStackFile(info: LocalStackFile, path = LOCAL_STACK_FILE): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(info, null, 2), { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function removeLocalStackFile(path = LOCAL_STACK_FILE): void {
  rmSync(path, { force: true });
}

/** The running local stack, if any: a file whose process is gone is stale and ignored. */
export function readLocalStackFile(path = LOCAL_STACK_FILE): LocalStackFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LocalStackFile;
    process.kill(info.pid, 0);
    return info;
  } catch {
    return undefined;
  }
}
