import { PassThrough, Writable } from 'node:stream';
import type { Principal } from '@flotilla/auth';
import { createLoggers, createMetrics } from '@flotilla/telemetry';
import { type StdioServerHandle, StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import { afterEach, describe, expect, it } from 'vitest';
import { ToolPipeline } from './pipeline.js';
import { serveStdioWithLane } from './stdio-lane.js';
import { buildMcpServer } from './surface.js';
import { type FixtureDeps, fixtureService } from './testing/fixture-service.js';

// The lane answers a plain 2025-era tools/call itself; the SDK answers everything else. The same
// session script is played against the lane and against the SDK's own stdio serving, and the
// answers compared byte for byte. The SDK's server gets a pipeline that counts the calls it passes
// on, so each test also sees which path answered.

const principal: Principal = { subject: 'stdio', tenant: 'local', scopes: ['test:read', 'test:write'], method: 'none' };
const silent = new Writable({ write: (_chunk, _encoding, done) => done() });
const handles: StdioServerHandle[] = [];

afterEach(async () => {
  await Promise.all(handles.splice(0).map((handle) => handle.close()));
});

function session(lane: boolean) {
  const deps: FixtureDeps = { notes: [], aborted: { count: 0 } };
  const { logger, audit } = createLoggers({ service: 'fixture', version: '0', level: 'silent', destination: silent });
  const pipeline = new ToolPipeline({
    tools: fixtureService.tools,
    deps,
    exposure: { READ_ONLY: false, TOOLS_ENABLED: [], TOOLS_DISABLED: [] },
    toolTimeoutMs: 15_000,
    toolLimiters: new Map(),
    logger,
    auditLogger: audit,
    metrics: createMetrics({ service: 'fixture', version: '0' }),
    shutdownSignal: new AbortController().signal,
  });
  const sdk = { calls: 0 };
  const counted = new Proxy(pipeline, {
    get(target, key, receiver) {
      if (key === 'call') {
        return (...args: Parameters<typeof pipeline.call>) => {
          sdk.calls += 1;
          return target.call(...args);
        };
      }
      const value = Reflect.get(target, key, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const surface = { ...fixtureService, resources: [], prompts: [] };
  const build = () => buildMcpServer(surface, counted, principal, { deps, log: logger });
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  handles.push(
    lane
      ? serveStdioWithLane(build, pipeline, principal, { stdin, stdout })
      : serveStdio(build, { transport: new StdioServerTransport(stdin, stdout) }),
  );
  const lines: string[] = [];
  let pending = '';
  stdout.on('data', (chunk) => {
    pending += String(chunk);
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      lines.push(pending.slice(0, end));
      pending = pending.slice(end + 1);
    }
  });
  const send = (message: Record<string, unknown>) => stdin.write(`${JSON.stringify(message)}\n`);
  const answerTo = async (id: string | number) => {
    const ofId = () => lines.find((line) => (JSON.parse(line) as { id?: unknown }).id === id);
    await expect.poll(ofId, { timeout: 5000 }).toBeDefined();
    return ofId() as string;
  };
  const initialize = async (protocolVersion: string) => {
    send({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion, capabilities: {}, clientInfo: { name: 'test', version: '1' } },
    });
    await answerTo(0);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  };
  return { deps, sdk, send, answerTo, initialize, lines, stdin };
}

const call = (
  id: string | number,
  name: string,
  args: Record<string, unknown>,
  extra: Record<string, unknown> = {},
) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args, ...extra },
});
const withoutIds = (line: string) =>
  line.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID');

describe('the stdio lane', () => {
  it('answers plain tools/call exactly as the SDK does, without the SDK', async () => {
    for (const version of ['2025-11-25', '2025-06-18']) {
      const script: [string | number, string, Record<string, unknown>, Record<string, unknown>?][] = [
        [1, 'echo', { text: 'hello "there"\n\u2028' }],
        ['call-2', 'echo', { text: 42 }],
        [3, 'fail', { kind: 'crash' }],
        [4, 'fail', { kind: 'not_found' }],
        [5, 'echo', { text: 'with progress' }, { _meta: { progressToken: 'p-5' } }],
      ];
      const answers = [];
      for (const lane of [true, false]) {
        const stdio = session(lane);
        await stdio.initialize(version);
        const got: string[] = [];
        for (const [id, name, args, extra] of script) {
          stdio.send(call(id, name, args, extra));
          got.push(withoutIds(await stdio.answerTo(id)));
        }
        answers.push(got);
        expect(stdio.sdk.calls, `${version}, lane ${lane}`).toBe(lane ? 0 : script.length);
      }
      expect(answers[0]).toEqual(answers[1]);
      expect(JSON.parse(answers[0]?.[0] as string)).toMatchObject({
        result: { structuredContent: { text: 'hello "there"\n\u2028', tenant: 'local' } },
      });
    }
  });

  it('leaves to the SDK calls before initialize, calls not in the plain form, and unknown tools', async () => {
    const stdio = session(true);
    // Before initialize the SDK decides (its 2025-era instance answers a claim-less opening); the lane stays out.
    stdio.send(call(1, 'add_note', { text: 'too early' }));
    await stdio.answerTo(1);
    expect(stdio.sdk.calls).toBe(1);
    await stdio.initialize('2025-11-25');
    // Not in the plain form: the SDK's message schema drops both unanswered, and so does the lane.
    stdio.send({ ...call(2, 'echo', { text: 'a' }), extra: true });
    stdio.send(call(3, 'echo', { text: 'b' }, { _meta: { progressToken: { not: 'a token' } } }));
    stdio.send(call(4, 'no_such_tool', {}));
    expect(JSON.parse(await stdio.answerTo(4))).toMatchObject({
      error: { code: -32602, message: 'Unknown tool: no_such_tool' },
    });
    expect(stdio.sdk.calls).toBe(2);
    stdio.send(call(5, 'echo', { text: 'plain' }));
    await stdio.answerTo(5);
    expect(stdio.sdk.calls).toBe(2);
    const ids = stdio.lines.map((line) => (JSON.parse(line) as { id?: unknown }).id);
    expect(ids).toEqual([1, 0, 4, 5]);
  });

  it('aborts a call the client cancels, and sends no answer for it', async () => {
    const stdio = session(true);
    await stdio.initialize('2025-11-25');
    stdio.send(call('slow-1', 'slow', { ms: 20_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stdio.sdk.calls).toBe(0);
    stdio.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow-1' } });
    await expect.poll(() => stdio.deps.aborted.count).toBe(1);
    stdio.send(call(2, 'echo', { text: 'after' }));
    await stdio.answerTo(2);
    expect(stdio.lines.some((line) => line.includes('"slow-1"'))).toBe(false);
  });

  it('aborts its calls when stdin ends', async () => {
    const stdio = session(true);
    await stdio.initialize('2025-11-25');
    stdio.send(call(1, 'slow', { ms: 20_000 }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    stdio.stdin.end();
    await expect.poll(() => stdio.deps.aborted.count).toBe(1);
  });
});
