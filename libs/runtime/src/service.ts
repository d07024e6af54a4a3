import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, type Principal } from '@flotilla/auth';
import {
  checkDependencies,
  createRateLimiter,
  createRedisClient,
  type DependencyCheck,
  type RateLimiter,
  type Redis,
  settleConnection,
} from '@flotilla/resilience';
import { createLoggers, createMetrics, type FleetMetrics, type Logger } from '@flotilla/telemetry';
import { stopTracing } from '@flotilla/telemetry/tracing';
import type { DestinationStream } from 'pino';
import type { z } from 'zod';
import { createAdminApp } from './admin-app.js';
import { CallCancellation } from './call-cancellation.js';
import { ConfigError, loadConfig, type RuntimeConfig, type Transport } from './config.js';
import { createHttpApp, InflightTracker } from './http-app.js';
import { releaseMemory, releaseMemoryWhenIdle } from './memory-release.js';
import { ToolPipeline } from './pipeline.js';
import { buildServerCard } from './server-card.js';
import { resourceIdentityProblems } from './startup-check.js';
import { serveStdioWithLane } from './stdio-lane.js';
import { buildMcpServer, type PromptDefinition, type ResourceTemplateDefinition, serverIdentityOf } from './surface.js';
import type { AnyTool } from './tool.js';

/** How long start-up waits for the first Redis connection: ioredis's own connect timeout. */
const REDIS_FIRST_CONNECT_WAIT_MS = 2000;

export interface ServiceDefinition<Deps> {
  /** Short domain name: `database`, `files`, `notifications`. */
  name: string;
  version: string;
  title: string;
  /** Shown to the model at connection time: what this server is for and how to use it safely. */
  instructions: string;
  tools: readonly AnyTool<Deps>[];
  resources?: readonly ResourceTemplateDefinition<Deps>[];
  prompts?: readonly PromptDefinition<Deps>[];
}

export interface ServiceKit<Config> {
  config: Config;
  logger: Logger;
  metrics: FleetMetrics;
  /** Present when REDIS_URL is set: the shared store every replica sees. */
  redis: Redis | undefined;
}

/** What a service builds from its configuration: narrow dependencies for its tools, and its health checks. */
export interface ServiceParts<Deps> {
  deps: Deps;
  dependencies: DependencyCheck[];
  /** Tools this configuration cannot offer, with the reason a caller is given (name → reason). */
  unavailableTools?: Readonly<Record<string, string>>;
  close(): Promise<void>;
}

export interface StartOptions<Shape extends z.ZodRawShape, Deps> {
  definition: ServiceDefinition<Deps>;
  environment: Shape;
  transport: Transport;
  setup(kit: ServiceKit<RuntimeConfig & z.output<z.ZodObject<Shape>>>): Promise<ServiceParts<Deps>>;
  env?: NodeJS.ProcessEnv;
  logDestination?: DestinationStream;
}

export interface RunningService {
  /** Empty with transport `none`. */
  readonly mcpUrl: string;
  readonly adminUrl: string;
  readonly config: RuntimeConfig;
  readonly logger: Logger;
  /** SPEC §7: unready at once, serve for SHUTDOWN_DELAY_MS, stop accepting, drain, close, flush. */
  shutdown(): Promise<void>;
}

/** One call turns tool/resource/prompt definitions and the environment into a running server. */
export async function startService<Shape extends z.ZodRawShape, Deps>(
  options: StartOptions<Shape, Deps>,
): Promise<RunningService> {
  const config = loadConfig(options.environment, { env: options.env, transport: options.transport });
  const { definition } = options;
  const { logger, audit } = createLoggers({
    service: `flotilla-${definition.name}`,
    version: definition.version,
    level: config.LOG_LEVEL,
    destination: options.logDestination,
  });
  const metrics = createMetrics({ service: `flotilla-${definition.name}`, version: definition.version });

  const identityProblems = resourceIdentityProblems(config, config.PUBLIC_URL);
  if (options.transport === 'http' && identityProblems.length > 0) {
    throw new ConfigError(`invalid configuration:\n${identityProblems.map((p) => `✖ ${p}`).join('\n')}`);
  }

  const redis = config.REDIS_URL
    ? createRedisClient(config.REDIS_URL, (error) => logger.debug({ err: error }, 'redis connection error'))
    : undefined;
  if (!redis) {
    logger.warn('REDIS_URL is not set: rate limits and shared state live in memory; run a single replica only');
  } else {
    await settleConnection(redis, REDIS_FIRST_CONNECT_WAIT_MS);
  }

  const parts = await options.setup({ config, logger, metrics, redis });
  const shutdownController = new AbortController();
  const limiterFor = (scope: string, pointsPerMinute: number): RateLimiter =>
    createRateLimiter({
      pointsPerMinute,
      keyPrefix: `flotilla:${definition.name}:rl:${scope}`,
      redis,
      failMode: config.RATE_LIMIT_FAIL_MODE,
    });
  const toolLimiters = new Map<string, RateLimiter>();
  for (const tool of definition.tools) {
    const perMinute = config.TOOL_RATE_LIMITS[tool.name] ?? tool.rateLimitPerMinute;
    if (perMinute) toolLimiters.set(tool.name, limiterFor(`tool:${tool.name}`, perMinute));
  }
  const pipeline = new ToolPipeline({
    tools: definition.tools,
    deps: parts.deps,
    exposure: { ...config, unavailable: parts.unavailableTools },
    toolTimeoutMs: config.TOOL_TIMEOUT_MS,
    toolLimiters,
    logger,
    auditLogger: audit,
    metrics,
    shutdownSignal: shutdownController.signal,
  });
  const surface = {
    name: definition.name,
    version: definition.version,
    title: definition.title,
    instructions: definition.instructions,
    resources: definition.resources ?? [],
    prompts: definition.prompts ?? [],
  };
  const buildServer = (principal: Principal) =>
    buildMcpServer(surface, pipeline, principal, { deps: parts.deps, log: logger });

  const dependencies: DependencyCheck[] = [...parts.dependencies];
  if (redis) {
    dependencies.push({
      name: 'redis',
      // Fail-open keeps serving on the in-memory fallback, so Redis is then reported but not required.
      required: config.RATE_LIMIT_FAIL_MODE === 'closed',
      check: async () => {
        await redis.ping();
      },
    });
  }
  const checkReadiness = () =>
    checkDependencies(dependencies, 2000, (name, up) => metrics.dependencyUp.set({ dependency: name }, up ? 1 : 0));

  const closeParts = async () => {
    await parts.close().catch((error) => logger.warn({ err: error }, 'closing service dependencies failed'));
    redis?.disconnect();
  };

  // Start-up garbage and the young generation grown while loading go back before the first request.
  releaseMemory();

  if (options.transport === 'stdio') {
    const anonymous: Principal = {
      subject: 'stdio',
      tenant: config.AUTH_ANONYMOUS_TENANT,
      scopes: pipeline.scopesSupported(),
      method: 'none',
    };
    const handle = serveStdioWithLane(() => buildServer(anonymous), pipeline, anonymous);
    logger.info({ transport: 'stdio' }, 'serving MCP over stdio');
    return {
      mcpUrl: 'stdio:',
      adminUrl: '',
      config,
      logger,
      shutdown: async () => {
        shutdownController.abort();
        await handle.close();
        await closeParts();
        await stopTracing();
      },
    };
  }

  if (options.transport === 'none') {
    let draining = false;
    const admin = createAdminApp({ metrics, isDraining: () => draining, checkReadiness });
    const adminServer = await listen(admin.app, config.ADMIN_PORT, config.HOST);
    const adminPort = (adminServer.address() as AddressInfo).port;
    logger.info({ adminPort }, 'serving probes and metrics only: this process has no MCP endpoint');
    void checkReadiness();
    let stopping: Promise<void> | undefined;
    return {
      mcpUrl: '',
      adminUrl: `http://${displayHost(config.HOST)}:${adminPort}`,
      config,
      logger,
      // No endpoint to deregister and no calls to drain: unready, then the service's own background
      // work stops in closeParts, while the probes keep answering.
      shutdown: () => {
        stopping ??= (async () => {
          draining = true;
          logger.info('shutting down: unready, stopping background work');
          await closeParts();
          await new Promise<void>((resolve) => adminServer.close(() => resolve()));
          adminServer.closeAllConnections();
          admin.stop();
          await stopTracing();
          logger.info('shutdown complete');
        })();
        return stopping;
      },
    };
  }

  const authenticator = await createAuthenticator({
    methods: config.AUTH_MODE,
    publicUrl: config.PUBLIC_URL,
    issuer: config.AUTH_ISSUER,
    jwksUrl: config.AUTH_JWKS_URL,
    jwksFile: config.AUTH_JWKS_FILE,
    apiKeysFile: config.AUTH_API_KEYS_FILE,
    tenantClaim: config.AUTH_TENANT_CLAIM,
    anonymous: {
      subject: 'anonymous',
      tenant: config.AUTH_ANONYMOUS_TENANT,
      scopes: pipeline.scopesSupported(),
      method: 'none',
    },
  });
  const inflight = new InflightTracker();
  const cancellation = new CallCancellation(redis, definition.name, logger);
  let draining = false;
  const http = createHttpApp({
    config,
    serviceName: definition.name,
    authenticator,
    principalLimiter: limiterFor('principal', config.RATE_LIMIT_PER_MINUTE),
    pipeline,
    buildServer,
    serverIdentity: serverIdentityOf(surface),
    serverCard: buildServerCard({
      name: definition.name,
      serverInfo: serverIdentityOf(surface),
      instructions: surface.instructions,
      tools: pipeline.exposedTools(),
      resources: surface.resources,
      prompts: surface.prompts,
      config,
    }),
    logger,
    metrics,
    inflight,
    cancellation,
  });
  const admin = createAdminApp({ metrics, isDraining: () => draining, checkReadiness });
  const stopReleasingMemory = releaseMemoryWhenIdle(inflight, config.MEMORY_RELEASE_IDLE_MS, logger);
  const mcpServer = await listen(http.handle, config.PORT, config.HOST, config.REUSE_PORT);
  const adminServer = await listen(admin.app, config.ADMIN_PORT, config.HOST);
  const mcpPort = (mcpServer.address() as AddressInfo).port;
  const adminPort = (adminServer.address() as AddressInfo).port;
  const host = displayHost(config.HOST);
  logger.info(
    { port: mcpPort, adminPort, authMode: config.AUTH_MODE, readOnly: config.READ_ONLY },
    'serving MCP over HTTP',
  );
  void checkReadiness();

  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      draining = true;
      stopReleasingMemory();
      logger.info({ delayMs: config.SHUTDOWN_DELAY_MS }, 'shutting down: unready, waiting for endpoints to deregister');
      await sleep(config.SHUTDOWN_DELAY_MS);
      const closed = new Promise<void>((resolve) => mcpServer.close(() => resolve()));
      mcpServer.closeIdleConnections();
      const drained = await Promise.race([
        inflight.idle().then(() => true),
        sleep(config.SHUTDOWN_TIMEOUT_MS).then(() => false),
      ]);
      if (!drained) {
        logger.warn({ inflight: inflight.count }, 'drain timeout reached: aborting in-flight calls');
        shutdownController.abort();
      }
      mcpServer.closeAllConnections();
      await closed;
      await http.close();
      cancellation.close();
      await new Promise<void>((resolve) => adminServer.close(() => resolve()));
      adminServer.closeAllConnections();
      admin.stop();
      await closeParts();
      await stopTracing();
      logger.info('shutdown complete');
    })();
    return stopping;
  };

  return {
    mcpUrl: `http://${host}:${mcpPort}/mcp`,
    adminUrl: `http://${host}:${adminPort}`,
    config,
    logger,
    shutdown,
  };
}

/** `reusePort`: several replicas on one Linux host may bind the same port; the kernel spreads connections. */
function listen(app: RequestListener, port: number, host: string, reusePort = false): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(app);
    server.once('error', reject);
    server.listen({ port, host, reusePort }, () => {
      server.off('error', reject);
      resolve(server);
    });
    // Keep-alive connections must outlive a load balancer's idle timeout, or requests race a close.
    server.keepAliveTimeout = 65_000;
  });
}

/** The host part of a URL that reaches a server bound to `host` from this machine. */
function displayHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * The process wiring shared by every service's main.ts: `--stdio` picks the transport (unless the
 * service names one), a bad configuration exits 1 with one message, SIGTERM/SIGINT shut down
 * gracefully and a second one exits at once.
 */
export async function runService<Shape extends z.ZodRawShape, Deps>(
  options: Omit<StartOptions<Shape, Deps>, 'transport'> & { argv?: string[]; transport?: Transport },
): Promise<void> {
  const argv = options.argv ?? process.argv.slice(2);
  const transport = options.transport ?? (argv.includes('--stdio') ? 'stdio' : 'http');
  let running: RunningService;
  try {
    running = await startService({ ...options, transport });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`flotilla-${options.definition.name}: ${error.message}\n`);
      process.exit(1);
    }
    process.stderr.write(`flotilla-${options.definition.name}: failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      running.logger.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    running.logger.info({ signal }, 'signal received');
    running.shutdown().then(
      () => process.exit(0),
      (error) => {
        running.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (transport === 'stdio') process.stdin.on('close', () => onSignal('SIGTERM'));
}
