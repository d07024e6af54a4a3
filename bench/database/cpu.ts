import { readdirSync } from 'node:fs';
import { processesCpuMs, procStat, spent } from '../shared/cpu.ts';

/**
 * The database benchmark's CPU accounting: the server under test, the whole Postgres server and
 * this process, per request. Reading /proc is in shared/cpu.ts.
 */

/**
 * CPU milliseconds used so far by a whole Postgres server, found from the pid of one of its
 * backends: the postmaster, its live children, and the children that already exited (the kernel adds
 * those to the postmaster once reaped), so a connection closed mid-run still counts. Undefined if the
 * processes are not visible from here (Postgres in a container reports pids of another namespace).
 */
function postgresCpuMs(backendPid: number): number | undefined {
  const backend = procStat(backendPid);
  if (backend?.command !== 'postgres') return undefined;
  const postmasterPid = backend.ppid;
  const postmaster = procStat(postmasterPid);
  if (postmaster?.command !== 'postgres') return undefined;
  let children = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat?.ppid === postmasterPid) children += stat.ownMs;
  }
  return postmaster.ownMs + postmaster.reapedChildrenMs + children;
}

export interface CpuPerRequest {
  /** The server's processes; undefined where /proc could not be read. */
  readonly server: number | undefined;
  /** The whole Postgres server; undefined where its processes are not visible. */
  readonly postgres: number | undefined;
  /** This process: the load generator, and the draining of the servers' logs. */
  readonly loadGenerator: number;
}

/**
 * Starts counting the CPU time of a server, of Postgres (found from one backend's pid) and of this
 * process; `perRequest` divides what each spent since by the requests answered in that time.
 */
export function startCpuMeter(serverPids: readonly number[], postgresBackendPid: number) {
  const before = {
    server: processesCpuMs(serverPids),
    postgres: postgresCpuMs(postgresBackendPid),
    self: process.cpuUsage(),
  };
  return {
    perRequest(requests: number): CpuPerRequest {
      const self = process.cpuUsage(before.self);
      const per = (ms: number | undefined) => (ms === undefined || requests === 0 ? undefined : ms / requests);
      return {
        server: per(spent(before.server, processesCpuMs(serverPids))),
        postgres: per(spent(before.postgres, postgresCpuMs(postgresBackendPid))),
        loadGenerator: per((self.user + self.system) / 1000) ?? 0,
      };
    },
  };
}
