import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { Ajv } from 'ajv';

// An OTLP/HTTP trace receiver for tests: what a collector would be, reduced to `POST /v1/traces`.
//
// Requests are OTLP/JSON (the servers run with OTEL_EXPORTER_OTLP_PROTOCOL=http/json). The installed
// OpenTelemetry JS packages no longer ship generated protobuf code that decodes an
// ExportTraceServiceRequest: @opentelemetry/otlp-transformer 0.223 writes protobuf with a hand-rolled
// writer and reads only the (tiny) export response, and no package in the tree carries the .proto files.
// So each request is validated against the OTLP/JSON mapping of the official messages instead
// (opentelemetry-proto, opentelemetry/proto/collector/trace/v1/trace_service.proto, trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto): proto3 JSON field names in lowerCamelCase, trace and
// span ids as hex (not base64, the one departure OTLP/JSON makes), enums as integers, 64-bit integers as
// decimal strings or numbers. Unknown fields are refused, so an exporter sending something else fails the test.

const HEX_TRACE_ID = '^[0-9a-f]{32}$';
const HEX_SPAN_ID = '^[0-9a-f]{16}$';
const uint64 = {
  anyOf: [
    { type: 'string', pattern: '^[0-9]+$' },
    { type: 'integer', minimum: 0 },
  ],
};
const int64 = { anyOf: [{ type: 'string', pattern: '^-?[0-9]+$' }, { type: 'integer' }] };
const uint32 = { type: 'integer', minimum: 0, maximum: 0xffffffff };
const keyValues = { type: 'array', items: { $ref: '#/$defs/KeyValue' } };

const exportTraceServiceRequest = {
  $id: 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest',
  type: 'object',
  additionalProperties: false,
  properties: { resourceSpans: { type: 'array', items: { $ref: '#/$defs/ResourceSpans' } } },
  $defs: {
    ResourceSpans: {
      type: 'object',
      additionalProperties: false,
      properties: {
        resource: { $ref: '#/$defs/Resource' },
        scopeSpans: { type: 'array', items: { $ref: '#/$defs/ScopeSpans' } },
        schemaUrl: { type: 'string' },
      },
    },
    Resource: {
      type: 'object',
      additionalProperties: false,
      properties: { attributes: keyValues, droppedAttributesCount: uint32, entityRefs: { type: 'array' } },
    },
    ScopeSpans: {
      type: 'object',
      additionalProperties: false,
      properties: {
        scope: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string' },
            version: { type: 'string' },
            attributes: keyValues,
            droppedAttributesCount: uint32,
          },
        },
        spans: { type: 'array', items: { $ref: '#/$defs/Span' } },
        schemaUrl: { type: 'string' },
      },
    },
    Span: {
      type: 'object',
      additionalProperties: false,
      required: ['traceId', 'spanId', 'name', 'kind', 'startTimeUnixNano', 'endTimeUnixNano'],
      properties: {
        traceId: { type: 'string', pattern: HEX_TRACE_ID },
        spanId: { type: 'string', pattern: HEX_SPAN_ID },
        traceState: { type: 'string' },
        // Empty (or absent) for a root span.
        parentSpanId: { type: 'string', pattern: `${HEX_SPAN_ID}|^$` },
        flags: uint32,
        name: { type: 'string', minLength: 1 },
        // Span.SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer.
        kind: { type: 'integer', minimum: 0, maximum: 5 },
        startTimeUnixNano: uint64,
        endTimeUnixNano: uint64,
        attributes: keyValues,
        droppedAttributesCount: uint32,
        events: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              timeUnixNano: uint64,
              name: { type: 'string' },
              attributes: keyValues,
              droppedAttributesCount: uint32,
            },
          },
        },
        droppedEventsCount: uint32,
        links: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              traceId: { type: 'string', pattern: HEX_TRACE_ID },
              spanId: { type: 'string', pattern: HEX_SPAN_ID },
              traceState: { type: 'string' },
              attributes: keyValues,
              droppedAttributesCount: uint32,
              flags: uint32,
            },
          },
        },
        droppedLinksCount: uint32,
        status: {
          type: 'object',
          additionalProperties: false,
          // Status.StatusCode: 0 unset, 1 ok, 2 error.
          properties: { message: { type: 'string' }, code: { type: 'integer', minimum: 0, maximum: 2 } },
        },
      },
    },
    KeyValue: {
      type: 'object',
      additionalProperties: false,
      required: ['key', 'value'],
      properties: { key: { type: 'string' }, value: { $ref: '#/$defs/AnyValue' } },
    },
    // A oneof: at most one member (none is the "empty" value).
    AnyValue: {
      type: 'object',
      additionalProperties: false,
      maxProperties: 1,
      properties: {
        stringValue: { type: 'string' },
        boolValue: { type: 'boolean' },
        intValue: int64,
        doubleValue: { type: 'number' },
        arrayValue: {
          type: 'object',
          additionalProperties: false,
          properties: { values: { type: 'array', items: { $ref: '#/$defs/AnyValue' } } },
        },
        kvlistValue: { type: 'object', additionalProperties: false, properties: { values: keyValues } },
        bytesValue: { type: 'string', contentEncoding: 'base64' },
      },
    },
  },
} as const;

const validateRequest = new Ajv({ allErrors: true, strict: true }).compile(exportTraceServiceRequest);

export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };

/** One exported span, flattened: attributes as a plain record, the resource's service.name alongside. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a root span. */
  parentSpanId?: string;
  name: string;
  /** OTLP Span.SpanKind (2 is SERVER, 3 CLIENT). */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP Status.StatusCode (0 unset, 2 error). */
  statusCode: number;
  scope: string;
  service: string;
}

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const STATUS_CODE_ERROR = 2;

export interface OtlpReceiver {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly endpoint: string;
  spans(): ReceivedSpan[];
  /** Requests that were not a valid OTLP/JSON trace export, with why; a test expects none. */
  rejected(): string[];
  /** Polls until `select` returns something truthy from the spans received so far, or fails after `timeoutMs`. */
  waitFor<T>(select: (spans: ReceivedSpan[]) => T | undefined | false, what: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

interface AnyValueJson {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number;
  arrayValue?: { values?: AnyValueJson[] };
  kvlistValue?: { values?: KeyValueJson[] };
  bytesValue?: string;
}
interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}
interface SpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: KeyValueJson[];
  status?: { code?: number };
}
interface RequestJson {
  resourceSpans?: {
    resource?: { attributes?: KeyValueJson[] };
    scopeSpans?: { scope?: { name?: string }; spans?: SpanJson[] }[];
  }[];
}

function attributeValueOf(value: AnyValueJson): AttributeValue {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(attributeValueOf);
  if (value.kvlistValue) return recordOf(value.kvlistValue.values);
  return null;
}

function recordOf(attributes: KeyValueJson[] | undefined): Record<string, AttributeValue> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, attributeValueOf(value)]));
}

function spansOf(request: RequestJson): ReceivedSpan[] {
  return (request.resourceSpans ?? []).flatMap((resourceSpans) => {
    const service = String(recordOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
    return (resourceSpans.scopeSpans ?? []).flatMap((scopeSpans) =>
      (scopeSpans.spans ?? []).map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
        name: span.name,
        kind: span.kind,
        attributes: recordOf(span.attributes),
        statusCode: span.status?.code ?? 0,
        scope: scopeSpans.scope?.name ?? '',
        service,
      })),
    );
  });
}

async function bodyOf(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return request.headers['content-encoding'] === 'gzip' ? promisify(gunzip)(raw) : raw;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: ReceivedSpan[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((request, response) => {
    void (async () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        rejected.push(`${request.method} ${request.url}`);
        response.writeHead(404).end();
        return;
      }
      if (!request.headers['content-type']?.startsWith('application/json')) {
        rejected.push(`content-type ${request.headers['content-type']}`);
        response.writeHead(415).end();
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse((await bodyOf(request)).toString('utf8'));
      } catch (error) {
        rejected.push(`unparsable body: ${String(error)}`);
        response.writeHead(400).end();
        return;
      }
      if (!validateRequest(parsed)) {
        rejected.push(`not an ExportTraceServiceRequest: ${JSON.stringify(validateRequest.errors?.slice(0, 5))}`);
        response.writeHead(400).end();
        return;
      }
      received.push(...spansOf(parsed as RequestJson));
      // An empty ExportTraceServiceResponse: everything accepted, no partial_success.
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => [...received],
    rejected: () => [...rejected],
    async waitFor(select, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (true) {
        const found = select([...received]);
        if (found) return found;
        if (Date.now() > deadline) {
          const names = [...new Set(received.map((span) => span.name))].join(', ');
          throw new Error(`no ${what} within ${timeoutMs} ms; received ${received.length} spans (${names})`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
