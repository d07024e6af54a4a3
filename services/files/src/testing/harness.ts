import { mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningService, startService } from '@flotilla/runtime';
import {
  connectMcpClient,
  LOCAL_TEST_SERVER_ENV,
  mintApiKey,
  type ServiceProcess,
  spawnService,
  writeApiKeysFile,
} from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';
import { filesEnvironment } from '../config.js';
import { tenantDirectoryName } from '../sandbox.js';
import { filesService, setupFiles } from '../server.js';

export { callTool, errorOf, resultOf, type ToolOutcome } from '@flotilla/testkit';

const ALL_SCOPES = ['files:read', 'files:write', 'files:delete'];

export interface FilesTestBed {
  /** FILES_ROOT: one directory per tenant below it. */
  root: string;
  /** A directory beside FILES_ROOT that no tool may ever reach (the test checks it never changes). */
  outside: string;
  tenantRoot(tenant: string): string;
  /** A server on this root with API-key auth; `env` overrides the defaults. */
  startServer(env?: Record<string, string>, logDestination?: { write(line: string): void }): Promise<RunningService>;
  /** The built server (dist/main.js) as its own process, for tests that measure the process itself. */
  spawnServer(env?: Record<string, string>): Promise<ServiceProcess>;
  /** An MCP client for `tenant` (all files scopes unless `scopes` says otherwise). */
  connect(service: { mcpUrl: string }, tenant: string, scopes?: string[]): Promise<Client>;
  stop(): Promise<void>;
}

/**
 * A throwaway workspace volume with an `outside` directory beside it holding a secret, and servers
 * that authenticate callers by API key so each client acts as its own tenant.
 */
export async function startFilesTestBed(): Promise<FilesTestBed> {
  const base = await realpath(await mkdtemp(join(tmpdir(), 'flotilla-files-test-')));
  const root = join(base, 'workspace');
  const outside = join(base, 'outside');
  await mkdir(root);
  await mkdir(outside);
  await writeFile(join(outside, 'secret.txt'), 'outside secret\n');
  const services: RunningService[] = [];
  const processes: ServiceProcess[] = [];
  const clients: Client[] = [];
  const keys = new Map<string, { key: string }>();
  const entries: ReturnType<typeof mintApiKey>['entry'][] = [];
  const keyFor = (tenant: string, scopes: string[]) => {
    const id = `${tenant}:${scopes.join(',')}`;
    let minted = keys.get(id);
    if (!minted) {
      const fresh = mintApiKey({ subject: `agent-${tenant}`, tenant, scopes });
      entries.push(fresh.entry);
      keys.set(id, fresh);
      minted = fresh;
    }
    return minted.key;
  };
  // Keys are minted up front: a server reads its key file once, at start-up.
  for (const tenant of ['acme', 'acme_evil', 'globex', 'initech', 'hooli']) keyFor(tenant, ALL_SCOPES);
  keyFor('acme', ['files:read']);
  keyFor('acme', ['files:read', 'files:write']);
  const keysFile = await writeApiKeysFile(entries);
  return {
    root,
    outside,
    tenantRoot: (tenant) => join(root, tenantDirectoryName(tenant)),
    async startServer(env = {}, logDestination = undefined) {
      const service = await startService({
        logDestination,
        definition: filesService,
        environment: filesEnvironment,
        setup: setupFiles,
        transport: 'http',
        env: {
          ...LOCAL_TEST_SERVER_ENV,
          AUTH_MODE: 'api-key',
          AUTH_API_KEYS_FILE: keysFile,
          // Tests fire thousands of calls a minute from one principal; budgets are tested in the runtime's own suite.
          RATE_LIMIT_PER_MINUTE: '1000000',
          FILES_ROOT: root,
          ...env,
        },
      });
      services.push(service);
      return service;
    },
    async spawnServer(env = {}) {
      const process = await spawnService(fileURLToPath(new URL('../../dist/main.js', import.meta.url)), {
        AUTH_MODE: 'api-key',
        AUTH_API_KEYS_FILE: keysFile,
        SHUTDOWN_DELAY_MS: '0',
        RATE_LIMIT_PER_MINUTE: '1000000',
        FILES_ROOT: root,
        ...env,
      });
      processes.push(process);
      return process;
    },
    async connect(service, tenant, scopes = ALL_SCOPES) {
      const key = keys.get(`${tenant}:${scopes.join(',')}`);
      if (!key) throw new Error(`no key minted for ${tenant} with ${scopes.join(',')}`);
      const client = await connectMcpClient(service.mcpUrl, { token: key.key });
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((client) => client.close()));
      await Promise.all(services.map((service) => service.shutdown()));
      await Promise.all(processes.map((process) => process.stop()));
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** Every path below `dir` with its content (files) or a marker (directories, links): a snapshot to compare. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    // The server's readiness probe file comes and goes on its own schedule; it is the server's, not a tenant's.
    if (entry.name.startsWith('.flotilla-readyz-')) continue;
    const full = join(entry.parentPath, entry.name);
    const key = full.slice(dir.length + 1);
    if (entry.isFile()) result[key] = await readFile(full, 'utf8');
    else result[key] = entry.isDirectory() ? '<dir>' : '<link>';
  }
  return result;
}
