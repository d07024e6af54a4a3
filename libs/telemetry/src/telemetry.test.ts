import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, writeAudit } from './logger.js';
import { createMetrics } from './metrics.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

describe('logger', () => {
  it('writes JSON lines with service and version, and redacts secrets and tool arguments', () => {
    const { lines, stream } = capture();
    const logger = createLogger({ service: 'flotilla-test', version: '1.2.3', destination: stream });
    logger.info(
      {
        authorization: 'Bearer abc',
        req: { headers: { authorization: 'Bearer abc' } },
        user: { password: 'pw', token: 't' },
        arguments: { sql: 'select 1' },
      },
      'hello',
    );
    expect(lines[0]).toMatchObject({
      level: 'info',
      service: 'flotilla-test',
      version: '1.2.3',
      msg: 'hello',
      authorization: '[redacted]',
      user: { password: '[redacted]', token: '[redacted]' },
      arguments: '[redacted]',
    });
    expect(JSON.stringify(lines)).not.toMatch(/Bearer abc|select 1/);
  });

  it('writes audit lines in the shape log pipelines index', () => {
    const { lines, stream } = capture();
    writeAudit(createLogger({ service: 's', version: 'v', destination: stream }), {
      subject: 'ana',
      tenant: 'acme',
      tool: 'query',
      outcome: 'error',
      errorCode: 'FORBIDDEN',
      durationMs: 1.5,
      argsSha256: 'a'.repeat(64),
    });
    expect(lines[0]).toMatchObject({
      event: 'audit',
      subject: 'ana',
      tenant: 'acme',
      tool: 'query',
      errorCode: 'FORBIDDEN',
    });
  });
});

describe('metrics', () => {
  it('registers the fleet metric names with bounded labels', async () => {
    const metrics = createMetrics({ service: 'flotilla-test', version: '1.2.3' });
    metrics.toolCalls.inc({ tool: 'query', outcome: 'success' });
    metrics.operationDuration.observe(
      { mcp_method_name: 'tools/call', gen_ai_tool_name: 'query', outcome: 'success' },
      0.02,
    );
    const text = await metrics.registry.metrics();
    for (const name of [
      'mcp_server_operation_duration_seconds',
      'mcp_tool_calls_total',
      'mcp_auth_failures_total',
      'mcp_rate_limited_total',
      'mcp_inflight_requests',
      'flotilla_dependency_up',
      'flotilla_circuit_open',
      'flotilla_build_info{version="1.2.3",service="flotilla-test"} 1',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(name);
    }
  });
});
