import type { Registry } from '@flotilla/telemetry';
import { Counter, Gauge } from 'prom-client';

/**
 * The database server's own metrics (SPEC §6), beyond the fleet's: those of its idempotency sweep, in the
 * shape the runtime's BatchSweep records. No labels: nothing here is per tenant.
 */
export interface IdempotencySweepMetrics {
  /** Expired idempotency records this replica deleted. */
  deleted: Counter;
  /** When this replica last finished a sweep with nothing expired left, as a Unix time. */
  lastSuccess: Gauge;
}

export function createIdempotencySweepMetrics(registry: Registry): IdempotencySweepMetrics {
  return {
    deleted: new Counter({
      name: 'flotilla_db_idempotency_keys_swept_total',
      help: 'Expired idempotency records (older than 24 hours) deleted by this replica, across tenants.',
      registers: [registry],
    }),
    lastSuccess: new Gauge({
      name: 'flotilla_db_idempotency_sweep_last_success_timestamp_seconds',
      help: 'Unix time at which this replica last completed an idempotency sweep; 0 before the first.',
      registers: [registry],
    }),
  };
}
