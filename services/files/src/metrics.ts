import type { Registry } from '@flotilla/telemetry';
import { Counter } from 'prom-client';
import type { RefusalReason } from './paths.js';

/** The files server's own metrics (SPEC §6); labels are bounded, never a path. */
export interface FilesMetrics {
  bytesRead: Counter;
  bytesWritten: Counter;
  refusals: Counter<'reason'>;
}

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
  };
}
