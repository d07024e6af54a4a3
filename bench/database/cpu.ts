import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of processes, read from /proc (Linux). On a machine where the load generator, the server
 * and Postgres share a few cores, requests per second alone hide who spent the CPU; CPU time per
 * request does not. Figures are undefined where /proc cannot be read (not Linux, or another pid namespace).
 */

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface ProcStat {
  readonly command: string;
  readonly ppid: number;
  /** User plus system time of all its threads, in milliseconds. */
  readonly ownMs: number;
  /** User plus system time of its children that have exited and been reaped, in milliseconds. */
  readonly reapedChildrenMs: number;
}

function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command (field 2) may contain spaces and parentheses; the fields after its last ')' do not.
  const command = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
  const fields = text
    .slice(text.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // proc(5): fields 14-17 (here 11-14) are utime, stime, cutime, cstime, in clock ticks.
  const ms = (ticks: number) => (ticks * 1000) / clockTicks();
  return {
    command,
    ppid: fields[1] ?? 0,
    ownMs: ms((fields[11] ?? 0) + (fields[12] ?? 0)),
    reapedChildrenMs: ms((fields[13] ?? 0) + (fields[14] ?? 0)),
  };
}

/** CPU milliseconds used so far by the processes `pids`, or undefined if none can be read. */
function processesCpuMs(pids: readonly number[]): number | undefined {
  const stats = pids.map(procStat).filter((stat) => stat !== undefined);
  return stats.length === 0 ? undefined : stats.reduce((sum, stat) => sum + stat.ownMs, 0);
}

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

function spent(before: number | undefined, after: number | undefined): number | undefined {
  return before === undefined || after === undefined ? undefined : after - before;
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
