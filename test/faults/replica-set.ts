import type { ServiceProcess } from '@flotilla/testkit';
import type { Fleet, ServerName } from '../clients/fleet.js';
import { ReadinessProxy } from './proxy.js';

export interface ReplicaExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** From SIGTERM to exit. */
  readonly ms: number;
}

export interface ReplicaSet {
  /** The URL clients use: the round-robin proxy in front of the replicas. */
  readonly url: string;
  readonly proxy: ReadinessProxy;
  /** The replicas currently in the set. */
  readonly replicas: readonly ServiceProcess[];
  /** How each replaced replica ended. */
  readonly exits: readonly ReplicaExit[];
  /**
   * A rolling update with maxSurge 1, maxUnavailable 0: for each replica, start its successor, wait until the proxy
   * routes to it, then SIGTERM the old one and wait for it to exit.
   */
  roll(): Promise<void>;
  stop(): Promise<void>;
}

/** N replicas of one server as real processes on the fleet's Postgres and Redis, behind a readiness-following proxy. */
export async function startReplicaSet(
  fleet: Fleet,
  server: ServerName,
  count: number,
  env: Record<string, string> = {},
): Promise<ReplicaSet> {
  const proxy = new ReadinessProxy();
  await proxy.start();
  const replicas: ServiceProcess[] = [];
  const exits: ReplicaExit[] = [];
  const addReplica = async () => {
    const replica = await fleet.spawnHttp(server, env);
    await proxy.add(replica);
    replicas.push(replica);
    return replica;
  };
  for (let i = 0; i < count; i++) await addReplica();
  return {
    url: proxy.url,
    proxy,
    replicas,
    exits,
    async roll() {
      for (const old of [...replicas]) {
        const successor = await addReplica();
        if (!proxy.ready(successor)) throw new Error('a successor was ready for spawnService but not for the proxy');
        const sent = performance.now();
        // Kubernetes sends SIGTERM and updates the endpoints at the same time: the proxy learns of it only from
        // /readyz, which is what SHUTDOWN_DELAY_MS covers.
        old.child.kill('SIGTERM');
        const { code, signal } = await old.exited;
        exits.push({ code, signal, ms: Math.round(performance.now() - sent) });
        proxy.remove(old);
        replicas.splice(replicas.indexOf(old), 1);
      }
    },
    async stop() {
      await proxy.close();
      await Promise.all(replicas.map((replica) => replica.stop(5000)));
    },
  };
}
