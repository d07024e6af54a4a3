/**
 * `node files/profile.ts`: where each server's time goes on read_file of the 4 KiB document (or, with
 * `--operation list_directory`, on a listing of the 1,000 entries). Each
 * server runs with a V8 CPU profile; after a warm-up, N calls are made and only the samples taken
 * during those calls are summarised (start-up, warm-up and shutdown are cut out), as µs per call by
 * cost group (zod, SDK, span/telemetry, cockatiel, fs, JSON, GC, …) and by function. Prints the
 * summary and writes it, with the profiles, to results/profiles/files-read-<time>/.
 * Settings: `node files/profile.ts --help`.
 */
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exitOnSignals, log } from '../shared/cli.ts';
import { markdownTable } from '../shared/results.ts';
import { createDataset } from './dataset.ts';
import { runSegment, type Segment, warmUp } from './measure.ts';
import { type CpuProfile, type ProfileSummary, summariseProfile } from './profile-groups.ts';
import { RESULTS_DIR, requireBuild, withSystems } from './session.ts';
import { readProfileSettings } from './settings.ts';
import type { SystemName } from './systems/system.ts';

interface Window {
  readonly startUs: number;
  readonly endUs: number;
  readonly segment: Segment;
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** The system's profile: the largest in its directory (a probing sibling process may leave a small one). */
async function profileOf(dir: string): Promise<CpuProfile> {
  // Written by the server on its way out, which may finish a moment after its stop() returns.
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const names = (await readdir(dir).catch(() => [])).filter((name) => name.endsWith('.cpuprofile'));
    if (names.length > 0) {
      const sized = await Promise.all(
        names.map(async (name) => ({ path: join(dir, name), size: (await stat(join(dir, name))).size })),
      );
      const largest = sized.sort((a, b) => b.size - a.size)[0];
      if (largest) return JSON.parse(await readFile(largest.path, 'utf8')) as CpuProfile;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no CPU profile in ${dir}`);
}

function formatSummary(
  systems: readonly SystemName[],
  windows: ReadonlyMap<SystemName, Window>,
  summaries: ReadonlyMap<SystemName, ProfileSummary>,
  settings: ReturnType<typeof readProfileSettings>,
): string {
  const groups = [...new Set(systems.flatMap((name) => summaries.get(name)?.groups.map((g) => g.group) ?? []))];
  const usOf = (name: SystemName, group: string) => summaries.get(name)?.groups.find((g) => g.group === group);
  const figures = systems.map((name) => {
    const window = windows.get(name);
    const summary = summaries.get(name);
    return [
      name,
      String(window?.segment.callsPerSecond ?? ''),
      window?.segment.serverCpuMsPerCall === undefined
        ? 'n/a'
        : String(Math.round(window.segment.serverCpuMsPerCall * 1000)),
      String(summary?.busyUsPerCall ?? ''),
      String(summary?.idleUsPerCall ?? ''),
    ];
  });
  const what = settings.operation === 'read_file' ? 'read_file 4 KiB' : 'list_directory of 1,000 entries';
  return `# ${what}, where the time goes

${settings.calls} calls per system, ${settings.concurrency} in flight, after ${settings.warmupCalls} warm-up calls; sampled every
${settings.intervalUs} µs, only inside the measured calls. Profiling slows a server down (by about a quarter here), and
sampling is wall-clock while the thread is not idle, so native calls (fs bindings, the pipe write) also collect
time the thread was descheduled on a busy machine; the JavaScript groups are the trustworthy part.

${markdownTable(['system', 'calls/s (profiled)', 'server CPU µs/call (/proc)', 'busy µs/call (samples)', 'idle µs/call'], figures)}

## µs per call by group

Node internals and natives are charged to the first package frame above them (an AbortSignal made by cockatiel
counts as cockatiel); node:fs, the stdout/socket write, GC and \`(program)\` are their own groups. JSON.parse and
JSON.stringify have no frames: the SDK's serializeMessage is JSON.stringify of the answer, deserializeMessage
JSON.parse of the request plus its message-schema parse; elsewhere they count as their caller's self time.

${markdownTable(
  ['group', ...systems],
  groups.map((group) => [
    group,
    ...systems.map((name) => {
      const entry = usOf(name, group);
      return entry ? `${entry.usPerCall.toFixed(1)} (${entry.share.toFixed(1)} %)` : '–';
    }),
  ]),
)}

${systems
  .map(
    (name) => `## Top self time, ${name} (µs per call)

${markdownTable(
  ['function', 'µs/call'],
  (summaries.get(name)?.functions ?? []).map((entry) => [`\`${entry.name}\``, entry.usPerCall.toFixed(1)]),
)}`,
  )
  .join('\n\n')}
`;
}

async function main(): Promise<void> {
  const settings = readProfileSettings();
  requireBuild();
  exitOnSignals();
  const startedAt = new Date().toISOString();
  const kind = settings.operation === 'read_file' ? 'read' : 'list';
  const profileDir = `${RESULTS_DIR}profiles/files-${kind}-${startedAt.replace(/[:.]/g, '-')}`;
  const dataset = await createDataset();
  const windows = new Map<SystemName, Window>();
  try {
    await withSystems(
      {
        dataset,
        systems: settings.systems,
        negotiation: settings.negotiation,
        maxInFlight: settings.concurrency,
        profileDir,
        profileIntervalUs: settings.intervalUs,
      },
      async (systems) => {
        for (const system of systems) {
          // The reference answers list_directory with its own tool of that name (the first listing).
          const probe = settings.operation === 'read_file' ? system.read(dataset.document) : system.listings[0];
          if (!probe) throw new Error(`${system.name} has no list_directory`);
          await probe.check();
          log(`${system.name}: warming up, then ${settings.calls} profiled calls`);
          await warmUp(probe, settings.warmupCalls);
          const startUs = nowUs();
          const segment = await runSegment(system, probe, settings.calls, settings.concurrency);
          windows.set(system.name, { startUs, endUs: nowUs(), segment });
        }
      },
    );
  } finally {
    await dataset.remove();
  }
  const summaries = new Map<SystemName, ProfileSummary>();
  for (const [name, window] of windows) {
    summaries.set(name, summariseProfile(await profileOf(join(profileDir, name)), window, settings.calls));
  }
  const page = formatSummary(settings.systems, windows, summaries, settings);
  process.stdout.write(`\n${page}\n`);
  const file = join(profileDir, 'summary.md');
  await writeFile(file, page);
  await writeFile(
    join(profileDir, 'summary.json'),
    `${JSON.stringify({ startedAt, settings, windows: Object.fromEntries(windows), summaries: Object.fromEntries(summaries) }, null, 2)}\n`,
  );
  log(`wrote ${file} (profiles beside it)`);
}

await main();
