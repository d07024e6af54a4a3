import type { NodeSDK } from '@opentelemetry/sdk-node';

let sdk: NodeSDK | undefined;

/** Tracing is configured only by the standard OTEL_* variables and is off when none selects an exporter. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_TRACES_EXPORTER);
}

/**
 * Must run before express, pg or ioredis are imported, so the auto-instrumentations can patch them:
 * a service's main.ts starts tracing first and loads the rest of the program with a dynamic import.
 */
export async function startTracing(serviceName: string): Promise<boolean> {
  if (sdk || !tracingRequested()) return false;
  // Loaded only when wanted: the SDK and its instrumentations cost start-up time for nothing otherwise.
  const [{ register }, { NodeSDK }, { getNodeAutoInstrumentations }] = await Promise.all([
    import('node:module'),
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/auto-instrumentations-node'),
  ]);
  // ESM modules are only visible to the instrumentations through this loader hook.
  register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
  sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME ?? serviceName,
    instrumentations: [
      getNodeAutoInstrumentations({
        // Only the libraries Flotilla uses; fs and dns spans would drown the useful ones.
        '@opentelemetry/instrumentation-fs': { enabled: false },
        '@opentelemetry/instrumentation-dns': { enabled: false },
        '@opentelemetry/instrumentation-net': { enabled: false },
      }),
    ],
  });
  sdk.start();
  return true;
}

/** Flushes and stops the exporter; called last during graceful shutdown. */
export async function stopTracing(): Promise<void> {
  const running = sdk;
  sdk = undefined;
  await running?.shutdown();
}
