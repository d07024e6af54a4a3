/** Progress goes to stderr, so stdout carries only the table. */
export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * A signal becomes an ordinary exit, so the 'exit' hooks (of the test kit, of the child servers,
 * of the temporary files) stop and delete everything this run started.
 */
export function exitOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      log(`${signal}: stopping everything`);
      process.exit(130);
    });
  }
}

/** Whole numbers from flags or the environment: `fallback` when absent, a clear message when not a count. */
export function nonNegativeInt(name: string, raw: string | undefined, fallback: number, usage: string): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`--${name} must be a whole number, got "${raw}"\n${usage}`);
  return value;
}

export function positiveInt(name: string, raw: string | undefined, fallback: number, usage: string): number {
  const value = nonNegativeInt(name, raw, fallback, usage);
  if (value === 0) throw new Error(`--${name} must be at least 1\n${usage}`);
  return value;
}
