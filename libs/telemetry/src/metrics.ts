import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type { Registry } from 'prom-client';

/**
 * The fleet's shared metric names (SPEC §6). Label values are always bounded: method and tool
 * names come from the server's own registry, outcomes and reasons from fixed vocabularies.
 */
export interface FleetMetrics {
  readonly registry: Registry;
  /** Mirrors the OpenTelemetry MCP semantic convention `mcp.server.operation.duration`. */
  readonly operationDuration: Histogram<'mcp_method_name' | 'gen_ai_tool_name' | 'outcome'>;
  readonly toolCalls: Counter<'tool' | 'outcome'>;
  readonly authFailures: Counter<'reason'>;
  readonly rateLimited: Counter<'scope'>;
  readonly inflight: Gauge;
  readonly dependencyUp: Gauge<'dependency'>;
  readonly circuitOpen: Gauge<'dependency'>;
}

export function createMetrics(options: { service: string; version: string }): FleetMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'flotilla_build_info',
    help: 'Always 1; labels carry the running version.',
    labelNames: ['version'],
    registers: [registry],
  }).set({ version: options.version }, 1);

  return {
    registry,
    operationDuration: new Histogram({
      name: 'mcp_server_operation_duration_seconds',
      help: 'Duration of MCP requests handled by the server.',
      labelNames: ['mcp_method_name', 'gen_ai_tool_name', 'outcome'],
      // The buckets the OpenTelemetry MCP semantic convention recommends.
      buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    }),
    toolCalls: new Counter({
      name: 'mcp_tool_calls_total',
      help: 'Tool calls by tool and outcome (success or an error code).',
      labelNames: ['tool', 'outcome'],
      registers: [registry],
    }),
    authFailures: new Counter({
      name: 'mcp_auth_failures_total',
      help: 'Rejected authentication or authorization attempts by reason.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'mcp_rate_limited_total',
      help: 'Requests refused by a rate limit, by scope (principal or tool).',
      labelNames: ['scope'],
      registers: [registry],
    }),
    inflight: new Gauge({
      name: 'mcp_inflight_requests',
      help: 'MCP requests currently being handled by this replica.',
      registers: [registry],
    }),
    dependencyUp: new Gauge({
      name: 'flotilla_dependency_up',
      help: '1 when the dependency answered its last health check, else 0.',
      labelNames: ['dependency'],
      registers: [registry],
    }),
    circuitOpen: new Gauge({
      name: 'flotilla_circuit_open',
      help: '1 while the circuit breaker for the dependency is open, else 0.',
      labelNames: ['dependency'],
      registers: [registry],
    }),
  };
}
