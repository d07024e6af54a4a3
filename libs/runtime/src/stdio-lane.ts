import type { Readable, Writable } from 'node:stream';
import type { Principal } from '@flotilla/auth';
import type { JSONRPCMessage, McpServer, Transport } from '@modelcontextprotocol/server';
import { type StdioServerHandle, StdioServerTransport, serveStdio } from '@modelcontextprotocol/server/stdio';
import type { ToolPipeline } from './pipeline.js';
import { type LaneCall, LEGACY_LANE_REVISIONS, legacyResponseJson, plainLegacyToolCall } from './tool-call-lane.js';

export interface StdioStreams {
  stdin: Readable;
  stdout: Writable;
}

/**
 * Serves MCP over stdio through the SDK (`serveStdio`), with the HTTP server's direct lane for
 * tools/call (tool-call-lane.ts): once the connection has been initialised on a 2025-era revision,
 * a plain `tools/call` of an offered tool goes straight to the pipeline and its answer is written as
 * the SDK writes it, the same bytes (a test compares them). The SDK checks each result against its
 * schema again and copies it, and routes every message through its connection layer: about 40 µs and
 * their garbage per call, a tenth of a 4 KiB read_file. Everything else, the opening, every other
 * method and every call that is not in the plain form, is the SDK's.
 */
export function serveStdioWithLane<Deps>(
  buildServer: () => McpServer,
  pipeline: ToolPipeline<Deps>,
  principal: Principal,
  streams?: StdioStreams,
): StdioServerHandle {
  const transport = new LaneTransport(
    new StdioServerTransport(streams?.stdin, streams?.stdout),
    streams?.stdout ?? process.stdout,
    pipeline,
    principal,
  );
  return serveStdio(buildServer, { transport });
}

/** The SDK's stdio transport, with tools/call taken off its inbound stream once the session is initialised. */
class LaneTransport<Deps> implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: Transport['onmessage'];
  /** The revision the SDK answered `initialize` with; the lane is open only on a 2025-era one. */
  private revision: string | undefined;
  private initializeId: string | number | undefined;
  /** The lane's calls in flight, by JSON-RPC id, so a cancel notification or the end of stdin aborts them. */
  private readonly calls = new Map<string | number, AbortController>();

  constructor(
    private readonly inner: StdioServerTransport,
    private readonly stdout: Writable,
    private readonly pipeline: ToolPipeline<Deps>,
    private readonly principal: Principal,
  ) {}

  start(): Promise<void> {
    this.inner.onmessage = (message) => this.receive(message);
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onclose = () => {
      for (const controller of this.calls.values()) controller.abort(new Error('stdin closed'));
      this.onclose?.();
    };
    return this.inner.start();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const response = message as { id?: unknown; method?: unknown; result?: { protocolVersion?: unknown } };
    // The SDK's answer to initialize (not a request of its own that happens to reuse the number).
    if (this.initializeId !== undefined && response.id === this.initializeId && response.method === undefined) {
      const version = response.result?.protocolVersion;
      this.revision = typeof version === 'string' && LEGACY_LANE_REVISIONS.has(version) ? version : undefined;
      this.initializeId = undefined;
    }
    return this.inner.send(message);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private receive(message: JSONRPCMessage): void {
    const body = message as Record<string, unknown> & { method?: unknown; id?: unknown; params?: unknown };
    if (body.method === 'initialize' && (typeof body.id === 'string' || typeof body.id === 'number')) {
      this.initializeId = body.id;
      this.revision = undefined;
    } else if (body.method === 'notifications/cancelled') {
      const requestId = (body.params as { requestId?: unknown } | undefined)?.requestId;
      this.calls.get(requestId as string | number)?.abort(new Error('cancelled by the client'));
    }
    const call = this.revision === undefined ? undefined : plainLegacyToolCall(body, this.revision, this.pipeline);
    // A repeated id while the first call runs is the SDK's to refuse.
    if (!call || this.calls.has(call.id)) {
      this.onmessage?.(message);
      return;
    }
    void this.answer(call);
  }

  private async answer(call: LaneCall): Promise<void> {
    const controller = new AbortController();
    this.calls.set(call.id, controller);
    try {
      const outcome = await this.pipeline.call(call.name, call.args, this.principal, controller.signal, call.meta, {
        id: call.id,
        protocolVersion: call.protocolVersion,
      });
      // A cancelled request is not answered (the SDK does the same).
      if (controller.signal.aborted) return;
      this.stdout.write(`${legacyResponseJson(call.id, outcome)}\n`);
    } catch (error) {
      // The pipeline turns a tool's failures into results; this is a defect, answered as the SDK answers one.
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
      const reply = { jsonrpc: '2.0', id: call.id, error: { code: -32603, message: 'Internal error' } };
      if (!controller.signal.aborted) this.stdout.write(`${JSON.stringify(reply)}\n`);
    } finally {
      this.calls.delete(call.id);
    }
  }
}
