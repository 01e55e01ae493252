import { existsSync, readFileSync, rmSync } from 'node:fs';
import type { RunningEmulator } from '../../local/emulators/managed-child';
import { EMULATORS_FILE } from './support/emulators';

/** Stops the emulators of the global setup, by handle, else by the PIDs it wrote down. */
export default async function globalTeardown(): Promise<void> {
  const emulators = (globalThis as { integrationEmulators?: RunningEmulator[] }).integrationEmulators;
  if (emulators) {
    await Promise.all(emulators.map((emulator) => emulator.stop()));
  } else if (existsSync(EMULATORS_FILE)) {
    const { pids } = JSON.parse(readFileSync(EMULATORS_FILE, 'utf8')) as { pids: number[] };
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
  }
  rmSync(EMULATORS_FILE, { force: true });
}
