import { z } from 'zod';
import { ToolError } from '../errors.js';
import type { ServiceDefinition } from '../service.js';
import { toolsFor } from '../tool.js';

/** A tiny service used only by the runtime's own tests: one tool per behaviour the pipeline must get right. */
export interface FixtureDeps {
  notes: string[];
  /** Set when the slow tool saw its abort signal fire. */
  aborted: { count: number };
}

/**
 * The environment the runtime's tests start the fixture with: loopback, free ports, both credential kinds against
 * the test issuer and a keys file, no shutdown delay, no logs unless a test asks for them.
 */
export function fixtureEnvironment(auth: {
  issuer: string;
  jwksUrl: string;
  keysFile: string;
}): Record<string, string> {
  return {
    HOST: '127.0.0.1',
    PORT: '0',
    ADMIN_PORT: '0',
    AUTH_MODE: 'oauth,api-key',
    AUTH_ISSUER: auth.issuer,
    AUTH_JWKS_URL: auth.jwksUrl,
    AUTH_SERVERS: auth.issuer,
    AUTH_API_KEYS_FILE: auth.keysFile,
    PUBLIC_URL: 'http://127.0.0.1/mcp',
    SHUTDOWN_DELAY_MS: '0',
    LOG_LEVEL: 'silent',
  };
}

const tool = toolsFor<FixtureDeps>();
const read = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;

export const fixtureService: ServiceDefinition<FixtureDeps> = {
  name: 'fixture',
  version: '0.0.0',
  title: 'Runtime fixture',
  instructions: 'Test fixture.',
  tools: [
    tool({
      name: 'echo',
      title: 'Echo',
      description: 'Returns its text.',
      scopes: ['test:read'],
      annotations: read,
      input: z.strictObject({ text: z.string().max(100) }),
      output: z.object({ text: z.string(), tenant: z.string() }),
      handler: async ({ text }, { principal }) => ({ text, tenant: principal.tenant }),
    }),
    tool({
      name: 'add_note',
      title: 'Add a note',
      description: 'Stores a note.',
      scopes: ['test:write'],
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      input: z.strictObject({ text: z.string() }),
      output: z.object({ count: z.number() }),
      handler: async ({ text }, { deps }) => ({ count: deps.notes.push(text) }),
    }),
    tool({
      name: 'slow',
      title: 'Slow',
      description: 'Waits, stopping early when aborted.',
      scopes: ['test:read'],
      annotations: read,
      input: z.strictObject({ ms: z.number().int().max(60_000) }),
      output: z.object({ waited: z.number() }),
      handler: ({ ms }, { signal, deps }) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => resolve({ waited: ms }), ms);
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            deps.aborted.count += 1;
            reject(signal.reason);
          });
        }),
    }),
    tool({
      name: 'limited',
      title: 'Limited',
      description: 'Has a per-tool budget of 2 calls a minute.',
      scopes: ['test:read'],
      annotations: read,
      rateLimitPerMinute: 2,
      input: z.strictObject({}),
      output: z.object({ ok: z.boolean() }),
      handler: async () => ({ ok: true }),
    }),
    tool({
      name: 'fail',
      title: 'Fail',
      description: 'Fails the way a broken dependency would.',
      scopes: ['test:read'],
      annotations: read,
      input: z.strictObject({ kind: z.enum(['crash', 'not_found']) }),
      output: z.object({}),
      handler: async ({ kind }) => {
        if (kind === 'not_found') throw new ToolError('NOT_FOUND', 'No such thing; list things first.');
        throw new Error('connect ECONNREFUSED postgres://admin:hunter2@db.internal:5432/prod');
      },
    }),
  ],
};
