import type { Registry } from '@flotilla/telemetry';
import { Counter, Gauge } from 'prom-client';

/** The database server's own metrics (SPEC §6), beyond the fleet's. No labels: nothing here is per tenant. */
export interface DatabaseMetrics {
  /** Expired idempotency records this replica deleted. */
  idempotencyKeysSwept: Counter;
  /** When this replica last finished a sweep with nothing expired left, as a Unix time. */
  idempotencySweepLastSuccess: Gauge;
}

export function createDatabaseMetrics(registry: Registry): DatabaseMetrics {
  return {
    idempotencyKeysSwept: new Counter({
      name: 'flotilla_db_idempotency_keys_swept_total',
      help: 'Expired idempotency records (older than 24 hours) deleted by this replica, across tenants.',
      registers: [registry],
    }),
    idempotencySweepLastSuccess: new Gauge({
      name: 'flotilla_db_idempotency_sweep_last_success_timestamp_seconds',
      help: 'Unix time at which this replica last completed an idempotency sweep; 0 before the first.',
      registers: [registry],
    }),
  };
}
