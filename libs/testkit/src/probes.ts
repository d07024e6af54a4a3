import { connect } from 'node:net';
import pg from 'pg';

export const PG_ADMIN_USER = 'postgres';
export const PG_ADMIN_PASSWORD = 'postgres';
const PROBE_TIMEOUT_MS = 1_000;

export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
}

export function postgresUrl(target: PgTarget): string {
  const e = encodeURIComponent;
  return `postgres://${e(target.user)}:${e(target.password)}@${target.host}:${target.port}/${e(target.database)}`;
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Runs `work` on a fresh connection that is always closed afterwards. */
export async function withPgClient<T>(target: PgTarget, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ ...target, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  // A server shutting down under an idle client emits 'error', which would otherwise crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** True once the server accepts authenticated connections (not merely TCP, which it does while starting up). */
export async function pgAcceptsConnections(target: PgTarget): Promise<boolean> {
  try {
    await withPgClient(target, (client) => client.query('select 1'));
    return true;
  } catch {
    return false;
  }
}

/** True when a Redis server answers PING with PONG (not, for example, with -LOADING). */
export function redisAnswersPing(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    let reply = '';
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(reply.startsWith('+PONG')));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) finish(reply.startsWith('+PONG'));
    });
  });
}
