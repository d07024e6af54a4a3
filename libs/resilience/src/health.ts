export interface DependencyCheck {
  name: string;
  /** A required dependency that is down makes the replica unready; an optional one is only reported. */
  required: boolean;
  check(signal: AbortSignal): Promise<void>;
}

export interface DependencyStatus {
  status: 'up' | 'down';
  required: boolean;
  /** A short, safe description (an error class or code), never a connection string. */
  error?: string;
}

export interface HealthReport {
  ready: boolean;
  dependencies: Record<string, DependencyStatus>;
}

export async function checkDependencies(
  checks: readonly DependencyCheck[],
  timeoutMs: number,
  onStatus?: (name: string, up: boolean) => void,
): Promise<HealthReport> {
  const entries = await Promise.all(
    checks.map(async (dependency): Promise<[string, DependencyStatus]> => {
      try {
        await dependency.check(AbortSignal.timeout(timeoutMs));
        onStatus?.(dependency.name, true);
        return [dependency.name, { status: 'up', required: dependency.required }];
      } catch (error) {
        onStatus?.(dependency.name, false);
        return [dependency.name, { status: 'down', required: dependency.required, error: describe(error) }];
      }
    }),
  );
  const dependencies = Object.fromEntries(entries);
  const ready = entries.every(([, status]) => status.status === 'up' || !status.required);
  return { ready, dependencies };
}

function describe(error: unknown): string {
  if (error && typeof error === 'object') {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (error instanceof Error) return error.name;
  }
  return 'unavailable';
}
