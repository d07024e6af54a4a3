import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

export interface ConnectOptions {
  /** A bearer credential: a JWT from the test issuer or an API key. */
  token?: string;
  /** Spread requests over several replicas, one URL per request in turn (no affinity). */
  roundRobin?: readonly string[];
  /** `modern` speaks 2026-07-28 (auto-negotiated); `legacy` performs the 2025 initialize handshake. */
  era?: 'modern' | 'legacy';
  headers?: Record<string, string>;
}

/** The official MCP client over Streamable HTTP, as an agent host would use it. */
export async function connectMcpClient(url: string, options: ConnectOptions = {}): Promise<Client> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let turn = 0;
  const replicas = options.roundRobin;
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers },
    ...(replicas && replicas.length > 0
      ? {
          fetch: (_input: string | URL | Request, init?: RequestInit) => {
            const target = replicas[turn++ % replicas.length] as string;
            return fetch(target, init);
          },
        }
      : {}),
  });
  const client = new Client(
    { name: 'flotilla-test', version: '1.0.0' },
    options.era === 'legacy' ? {} : { versionNegotiation: { mode: 'auto' } },
  );
  await client.connect(transport);
  return client;
}
