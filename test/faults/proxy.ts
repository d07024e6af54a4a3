import { Agent, createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One replica as the proxy sees it: where it serves MCP and where its probes answer. */
export interface Backend {
  readonly mcpUrl: string;
  readonly adminUrl: string;
}

/** How often readiness is probed: a Kubernetes readinessProbe with periodSeconds far below SHUTDOWN_DELAY_MS. */
const PROBE_INTERVAL_MS = 100;

/**
 * A Service in front of replicas, as the tests need one: each HTTP request goes to the next replica whose
 * `/readyz` last answered 200 (round-robin, no affinity, so consecutive calls of one client land on different
 * replicas). Upstream connections are pooled and kept alive, as an ingress or a service mesh keeps them. It never
 * retries: a request that reaches a replica which then fails is a failed call, as it would be in production.
 */
export class ReadinessProxy {
  readonly #backends = new Map<Backend, { ready: boolean; removed: boolean; served: number }>();
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 64 });
  #server: Server | undefined;
  #prober: NodeJS.Timeout | undefined;
  #turn = 0;
  /** Requests answered 502/503 by the proxy itself (no ready replica, or the replica's connection failed). */
  proxyErrors = 0;

  get url(): string {
    if (!this.#server) throw new Error('the proxy has not been started');
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/mcp`;
  }

  /** How many requests a backend has been sent. */
  served(backend: Backend): number {
    return this.#backends.get(backend)?.served ?? 0;
  }

  async start(): Promise<void> {
    this.#server = createServer((incoming, outgoing) => {
      const target = this.#next();
      if (!target) {
        this.proxyErrors += 1;
        incoming.resume();
        outgoing.writeHead(503, { 'content-type': 'text/plain' }).end('no ready replica');
        return;
      }
      const url = new URL(incoming.url ?? '/', target.mcpUrl);
      const upstream = httpRequest(
        url,
        { method: incoming.method, headers: { ...incoming.headers, host: url.host }, agent: this.#agent },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
        },
      );
      upstream.on('error', () => {
        this.proxyErrors += 1;
        if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' }).end('replica failed');
        else outgoing.destroy();
      });
      // A client that goes away (a 2026-era cancellation) must close the upstream request too.
      outgoing.on('close', () => {
        if (!outgoing.writableFinished) upstream.destroy();
      });
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    this.#prober = setInterval(() => void this.#probeAll(), PROBE_INTERVAL_MS);
  }

  /** Adds a replica; it receives traffic once a probe has seen it ready. */
  async add(backend: Backend): Promise<void> {
    this.#backends.set(backend, { ready: false, removed: false, served: 0 });
    await this.#probe(backend);
  }

  /** Takes a replica out of rotation for good (its Pod object is gone). */
  remove(backend: Backend): void {
    const state = this.#backends.get(backend);
    if (state) Object.assign(state, { ready: false, removed: true });
  }

  ready(backend: Backend): boolean {
    return this.#backends.get(backend)?.ready ?? false;
  }

  async close(): Promise<void> {
    clearInterval(this.#prober);
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
    this.#agent.destroy();
  }

  #next(): Backend | undefined {
    const ready = [...this.#backends].filter(([, state]) => state.ready);
    if (ready.length === 0) return undefined;
    const [backend, state] = ready[this.#turn++ % ready.length] as [Backend, { served: number }];
    state.served += 1;
    return backend;
  }

  async #probeAll(): Promise<void> {
    const current = [...this.#backends].filter(([, state]) => !state.removed);
    await Promise.all(current.map(([backend]) => this.#probe(backend)));
  }

  async #probe(backend: Backend): Promise<void> {
    const ok = await fetch(`${backend.adminUrl}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.status === 200,
      () => false,
    );
    const state = this.#backends.get(backend);
    if (state && !state.removed) state.ready = ok;
  }
}
