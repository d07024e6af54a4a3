import { trace } from '@opentelemetry/api';
import { type DestinationStream, type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths whose values never reach a log line. Tool arguments are redacted too: they may carry
 * customer data or SQL with literals, and the audit line records their SHA-256 instead.
 */
const REDACTED_PATHS = [
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'connectionString',
  '*.connectionString',
  'databaseUrl',
  'redisUrl',
  'arguments',
  '*.arguments',
  'args',
  '*.args',
];

export interface LoggerOptions {
  service: string;
  version: string;
  level?: string;
  /** Defaults to stderr, so stdout stays free for the stdio transport. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return createLoggers(options).logger;
}

/**
 * The server's logger and its audit logger, on one destination with the same fields. The audit
 * logger skips the redaction pass: an audit record's fields are fixed and hold no secret (the
 * arguments appear only as their SHA-256), and redaction costs measurably at one line per call.
 */
export function createLoggers(options: LoggerOptions): { logger: Logger; audit: Logger } {
  const destination = options.destination ?? pino.destination({ fd: 2, sync: false });
  const settings = {
    level: options.level ?? 'info',
    base: { service: options.service, version: options.version },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    mixin() {
      const context = trace.getActiveSpan()?.spanContext();
      return context && context.traceFlags !== undefined && context.traceId !== '00000000000000000000000000000000'
        ? { trace_id: context.traceId, span_id: context.spanId }
        : {};
    },
  };
  return {
    logger: pino({ ...settings, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination),
    audit: pino(settings, destination),
  };
}

export interface AuditRecord {
  subject: string;
  tenant: string;
  tool: string;
  outcome: 'success' | 'error';
  errorCode: string | null;
  durationMs: number;
  argsSha256: string;
}

/** One audit line per tool call, to the audit logger; a stable shape that log pipelines can index on `event`. */
export function writeAudit(logger: Logger, record: AuditRecord): void {
  logger.info({ event: 'audit', ...record }, 'tool call');
}
