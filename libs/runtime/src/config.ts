import { isIP } from 'node:net';
import { z } from 'zod';

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );
const flag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** Parsers for environment values, shared by every service's config.ts so lists and flags read alike. */
export const env = { list, flag, positiveInt };
const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

const toolLimits = z
  .string()
  .optional()
  .transform((value, context) => {
    const limits: Record<string, number> = {};
    for (const pair of (value ?? '').split(',').filter((item) => item.trim())) {
      const [name, count] = pair.split('=').map((part) => part.trim());
      const parsed = Number(count);
      if (!name || !Number.isInteger(parsed) || parsed <= 0) {
        context.addIssue({ code: 'custom', message: `expected tool=perMinute pairs, got "${pair}"` });
        return z.NEVER;
      }
      limits[name] = parsed;
    }
    return limits;
  });

/** The variables every Flotilla server reads (SPEC §2–§7). Each service adds its own on top. */
export const runtimeEnvironment = {
  PORT: port(8080),
  ADMIN_PORT: port(9090),
  HOST: z.string().default('0.0.0.0'),
  REUSE_PORT: flag,
  PUBLIC_URL: z.url().optional(),
  ALLOWED_ORIGINS: list,
  ALLOWED_HOSTS: list,
  MAX_BODY_BYTES: positiveInt(1024 * 1024),
  AUTH_MODE: list.pipe(
    z.array(z.enum(['oauth', 'api-key', 'none'])).min(1, 'set at least one of oauth, api-key, none'),
  ),
  AUTH_ISSUER: z.string().optional(),
  AUTH_JWKS_URL: z.url().optional(),
  AUTH_JWKS_FILE: z.string().optional(),
  AUTH_API_KEYS_FILE: z.string().optional(),
  AUTH_SERVERS: list,
  AUTH_TENANT_CLAIM: z.string().default('tenant'),
  AUTH_ANONYMOUS_TENANT: z.string().default('local'),
  READ_ONLY: flag,
  TOOLS_ENABLED: list,
  TOOLS_DISABLED: list,
  REDIS_URL: z.string().optional(),
  RATE_LIMIT_PER_MINUTE: positiveInt(600),
  RATE_LIMIT_FAIL_MODE: z.enum(['open', 'closed']).default('open'),
  TOOL_RATE_LIMITS: toolLimits,
  MAX_INFLIGHT: positiveInt(64),
  TOOL_TIMEOUT_MS: positiveInt(15000),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(5000),
  SHUTDOWN_TIMEOUT_MS: positiveInt(20000),
  // A shorter quiet spell would run a full GC in the gaps between a trickle of calls.
  MEMORY_RELEASE_IDLE_MS: z.coerce
    .number()
    .int()
    .refine((ms) => ms === 0 || ms >= 1000, 'MEMORY_RELEASE_IDLE_MS must be 0 (off) or at least 1000 ms')
    .default(10000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

const RuntimeSchema = z.object(runtimeEnvironment);

/**
 * How MCP is served: Streamable HTTP, stdio, or `none` for a process that only does background work
 * (a queue worker) and exposes nothing but the admin port.
 */
export type Transport = 'http' | 'stdio' | 'none';
export type RuntimeConfig = z.output<typeof RuntimeSchema> & { PUBLIC_URL: string; transport: Transport };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]', '::1'];

export function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.includes(host) || (isIP(host) === 4 && host.startsWith('127.'));
}

/**
 * Parses the environment once at start-up. Every problem is collected into one message, so an
 * operator fixes a broken Deployment in one round instead of one variable at a time.
 */
export function loadConfig<Shape extends z.ZodRawShape>(
  serviceShape: Shape,
  options: { env?: NodeJS.ProcessEnv; transport: Transport },
): RuntimeConfig & z.output<z.ZodObject<Shape>> {
  const env = { ...(options.env ?? process.env) };
  // stdio runs as the local user's own child process, and a process without an MCP endpoint has no
  // callers at all; neither needs credentials unless asked to.
  if (options.transport !== 'http' && !env.AUTH_MODE) env.AUTH_MODE = 'none';
  if (!env.AUTH_MODE) env.AUTH_MODE = 'api-key';
  const schema = z.object({ ...runtimeEnvironment, ...serviceShape });
  const parsed = schema.safeParse(env);
  // Cross-field rules read the raw strings, so they are reported even when a single value also fails to parse.
  const problems = crossFieldProblems(env, options.transport);
  if (!parsed.success || problems.length > 0) {
    const listed = parsed.success ? '' : `${z.prettifyError(parsed.error)}\n`;
    throw new ConfigError(`invalid configuration:\n${listed}${problems.map((p) => `✖ ${p}`).join('\n')}`.trimEnd());
  }
  const config = parsed.data as RuntimeConfig & z.output<z.ZodObject<Shape>>;
  config.transport = options.transport;
  config.PUBLIC_URL ??= `http://${isLoopback(config.HOST) ? '127.0.0.1' : 'localhost'}:${config.PORT}/mcp`;
  if (config.ALLOWED_ORIGINS.length === 0) {
    // Browsers send Origin on same-origin POSTs too: the server's own origin is always allowed.
    const publicUrl = new URL(config.PUBLIC_URL);
    config.ALLOWED_ORIGINS = [publicUrl.origin];
    if (isLoopback(publicUrl.hostname) || publicUrl.hostname === 'localhost') {
      const port = publicUrl.port ? `:${publicUrl.port}` : '';
      config.ALLOWED_ORIGINS.push(`http://localhost${port}`, `http://127.0.0.1${port}`, `http://[::1]${port}`);
    }
  }
  if (config.ALLOWED_HOSTS.length === 0) {
    config.ALLOWED_HOSTS = [new URL(config.PUBLIC_URL).hostname, 'localhost', '127.0.0.1', '[::1]'];
  }
  return config;
}

function crossFieldProblems(env: NodeJS.ProcessEnv, transport: Transport): string[] {
  const problems: string[] = [];
  const modes = (env.AUTH_MODE ?? '').split(',').map((mode) => mode.trim());
  if (modes.includes('none') && transport === 'http' && !isLoopback(env.HOST ?? '0.0.0.0')) {
    problems.push('AUTH_MODE=none is only allowed with --stdio or a loopback HOST (127.0.0.1, ::1, localhost)');
  }
  if (modes.includes('oauth')) {
    if (!env.AUTH_ISSUER) problems.push('AUTH_ISSUER is required with AUTH_MODE=oauth');
    if (!env.AUTH_JWKS_URL && !env.AUTH_JWKS_FILE)
      problems.push('AUTH_JWKS_URL or AUTH_JWKS_FILE is required with AUTH_MODE=oauth');
    if (!env.AUTH_SERVERS) problems.push('AUTH_SERVERS is required with AUTH_MODE=oauth');
    if (!env.PUBLIC_URL) problems.push('PUBLIC_URL is required with AUTH_MODE=oauth: it is the token audience');
  }
  if (modes.includes('api-key') && !env.AUTH_API_KEYS_FILE) {
    problems.push('AUTH_API_KEYS_FILE is required with AUTH_MODE=api-key');
  }
  return problems;
}
