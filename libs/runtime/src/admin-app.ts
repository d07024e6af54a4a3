import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { HealthReport } from '@flotilla/resilience';
import type { FleetMetrics } from '@flotilla/telemetry';
import express from 'express';

export interface AdminAppOptions {
  metrics: FleetMetrics;
  isDraining: () => boolean;
  checkReadiness: () => Promise<HealthReport>;
}

/** Probes and metrics, on their own port so they are never exposed with the MCP endpoint. */
export function createAdminApp(options: AdminAppOptions) {
  const app = express();
  app.disable('x-powered-by');
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();

  // Answering at all proves the event loop turns; the delay figure lets an operator see how well.
  app.get('/livez', (_req, res) => {
    res.json({ status: 'ok', eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6) });
    loopDelay.reset();
  });

  app.get('/readyz', async (_req, res) => {
    if (options.isDraining()) {
      res.status(503).json({ status: 'draining', dependencies: {} });
      return;
    }
    const report = await options.checkReadiness();
    res
      .status(report.ready ? 200 : 503)
      .json({ status: report.ready ? 'ready' : 'unready', dependencies: report.dependencies });
  });

  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', options.metrics.registry.contentType).send(await options.metrics.registry.metrics());
  });

  return { app, stop: () => loopDelay.disable() };
}
