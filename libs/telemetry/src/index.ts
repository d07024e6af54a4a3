export {
  type AuditRecord,
  createLogger,
  createLoggers,
  type Logger,
  type LoggerOptions,
  writeAudit,
} from './logger.js';
export { createMetrics, type FleetMetrics, type Registry } from './metrics.js';
export { type McpSpanAttributes, withMcpSpan } from './spans.js';
