import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/**
 * CPU time of processes, read from /proc (Linux). On a machine where the load generator and the
 * servers share a few cores, calls per second alone hide who spent the CPU; CPU time per call
 * does not. Figures are undefined where /proc cannot be read (not Linux, or another pid namespace).
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

export interface ProcStat {
  readonly command: string;
  readonly ppid: number;
  /** User plus system time of all its threads, in milliseconds. */
  readonly ownMs: number;
  /** User plus system time of its children that have exited and been reaped, in milliseconds. */
  readonly reapedChildrenMs: number;
}

export function procStat(pid: number): ProcStat | undefined {
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
export function processesCpuMs(pids: readonly number[]): number | undefined {
  const stats = pids.map(procStat).filter((stat) => stat !== undefined);
  return stats.length === 0 ? undefined : stats.reduce((sum, stat) => sum + stat.ownMs, 0);
}

/** `after - before`, or undefined when either reading failed. */
export function spent(before: number | undefined, after: number | undefined): number | undefined {
  return before === undefined || after === undefined ? undefined : after - before;
}
