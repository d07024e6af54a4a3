import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Machine {
  readonly os: string;
  readonly kernel: string;
  readonly cpuModel: string;
  readonly cpuCount: number;
  readonly totalMemoryGiB: number;
  readonly node: string;
  /** The Flotilla commit measured, with `-dirty` when the work tree had uncommitted changes. */
  readonly flotillaCommit: string;
}

/**
 * The machine and software a run measured, plus the versions of whatever each benchmark puts beside
 * Flotilla (PostgreSQL and Toolbox for `database`, the reference server for `files`).
 */
export function describeMachine<Versions extends Record<string, string>>(versions: Versions): Machine & Versions {
  return {
    os: `${os.type()} ${os.machine()} (${os.version()})`,
    kernel: os.release(),
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cpuCount: os.cpus().length,
    totalMemoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    ...versions,
    flotillaCommit: flotillaCommit(),
  };
}

function flotillaCommit(): string {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: 'pipe' }).trim();
  try {
    // Untracked files do not change what is measured, nor do the result pages a run rewrites (bench/results,
    // tracked so the latest figures are committed); edits to any other tracked file do.
    const results = fileURLToPath(new URL('../results/', import.meta.url));
    const dirty = git('status', '--porcelain', '--untracked-files=no', '--', ':/', `:(exclude)${results}`) !== '';
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? '-dirty' : ''}`;
  } catch {
    return 'unknown';
  }
}

/**
 * A results page's "Machine" section: CPU, memory, system and Node.js, then `extra` rows (the peers'
 * versions, the load average), then the commit measured.
 */
export function machineSection(machine: Machine, extra: readonly (readonly [string, string])[] = []): string {
  const rows: (readonly [string, string])[] = [
    ['CPU', `${machine.cpuCount} × ${machine.cpuModel}`],
    ['memory', `${machine.totalMemoryGiB} GiB`],
    ['OS / kernel', `${machine.os} / ${machine.kernel}`],
    ['Node.js', machine.node],
    ...extra,
    ['Flotilla commit', machine.flotillaCommit],
  ];
  return ['## Machine', '', '| | |', '| --- | --- |', ...rows.map(([name, value]) => `| ${name} | ${value} |`)].join(
    '\n',
  );
}
