import { setTimeout as sleep } from 'node:timers/promises';

export type TestkitMode = 'local' | 'containers';

const MODE_ENV = 'FLOTILLA_TESTKIT_MODE';
const DETECT_TIMEOUT_MS = 3_000;

let detected: Promise<TestkitMode> | undefined;

async function detect(): Promise<TestkitMode> {
  try {
    // Loaded lazily: testcontainers is heavy and irrelevant on machines without a container runtime.
    const { getContainerRuntimeClient } = await import('testcontainers');
    const probe = getContainerRuntimeClient().then(() => 'containers' as const);
    probe.catch(() => undefined);
    const timeout = sleep(DETECT_TIMEOUT_MS, 'local' as const, { ref: false });
    return await Promise.race([probe, timeout]);
  } catch {
    return 'local';
  }
}

/** `FLOTILLA_TESTKIT_MODE` wins; otherwise containers are used only if a runtime answers quickly. */
export function resolveMode(): Promise<TestkitMode> {
  const forced = process.env[MODE_ENV]?.trim();
  if (forced === 'local' || forced === 'containers') return Promise.resolve(forced);
  if (forced) return Promise.reject(new Error(`${MODE_ENV} must be 'local' or 'containers', got '${forced}'`));
  detected ??= detect();
  return detected;
}
