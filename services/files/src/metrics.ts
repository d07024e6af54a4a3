import type { Registry } from '@flotilla/telemetry';
import { Counter } from 'prom-client';
import type { RefusalReason } from './paths.js';

/** The files server's own metrics (SPEC §6); labels are bounded, never a path. */
export interface FilesMetrics {
  bytesRead: Counter;
  bytesWritten: Counter;
  refusals: Counter<'reason'>;
  /** How each growing write's quota was checked: `counter` is O(1); `walk` sums the tree (fallback only). */
  quotaChecks: Counter<'method'>;
  usageReconciles: Counter<'outcome'>;
  usageDriftBytes: Counter;
}

/** What a reconcile walk of a tenant's tree found; `busy` means a change overlapped it and nothing was applied. */
export type ReconcileOutcome = 'initialized' | 'unchanged' | 'corrected' | 'busy' | 'failed';

export function createFilesMetrics(registry: Registry): FilesMetrics {
  const refusals = new Counter({
    name: 'flotilla_files_refusals_total',
    help: 'Operations refused, by reason (invalid path, outside root, symlink, denied, too large, quota, conflict, precondition).',
    labelNames: ['reason'],
    registers: [registry],
  });
  const reasons: RefusalReason[] = [
    'invalid_path',
    'outside_root',
    'symlink',
    'denied',
    'too_large',
    'quota',
    'conflict',
    'precondition',
  ];
  // Zero series exist from the start, so a rate() over them works before the first refusal.
  for (const reason of reasons) refusals.inc({ reason }, 0);
  const quotaChecks = new Counter({
    name: 'flotilla_files_quota_checks_total',
    help: 'Quota checks of growing writes, by method: counter (O(1), in Redis) or walk (the tree is summed; fallback).',
    labelNames: ['method'],
    registers: [registry],
  });
  for (const method of ['counter', 'walk']) quotaChecks.inc({ method }, 0);
  const usageReconciles = new Counter({
    name: 'flotilla_files_usage_reconcile_total',
    help: 'Walks that compared a tenant usage counter with its tree, by outcome (initialized, unchanged, corrected, busy, failed).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const outcomes: ReconcileOutcome[] = ['initialized', 'unchanged', 'corrected', 'busy', 'failed'];
  for (const outcome of outcomes) usageReconciles.inc({ outcome }, 0);
  return {
    bytesRead: new Counter({
      name: 'flotilla_files_bytes_read_total',
      help: 'Bytes returned by read_file and the file resource.',
      registers: [registry],
    }),
    bytesWritten: new Counter({
      name: 'flotilla_files_bytes_written_total',
      help: 'Bytes written by write_file and edit_file.',
      registers: [registry],
    }),
    refusals,
    quotaChecks,
    usageReconciles,
    usageDriftBytes: new Counter({
      name: 'flotilla_files_usage_drift_bytes_total',
      help: 'Bytes by which reconcile walks corrected tenant usage counters (absolute; drift from crashes or changes outside the server).',
      registers: [registry],
    }),
  };
}
