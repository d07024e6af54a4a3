/**
 * How long each Flotilla server takes to become ready, and how much memory it holds idle, before and
 * after a run of cheap tool calls, on one already running PostgreSQL and Redis. Prints a table and
 * writes results/footprint-<time>.json and results/footprint-latest.md.
 * Settings: see settings.ts or `node footprint/run.ts --help`.
 */
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startPostgres, startRedis } from '@flotilla/testkit';
import { exitOnSignals, log } from '../shared/cli.ts';
import { describeMachine } from '../shared/machine.ts';
import { type Endpoint, makeCalls, toolCaller } from './calls.ts';
import { readMemory } from './memory.ts';
import {
  type FootprintReport,
  formatTable,
  median,
  meetsTargets,
  type ServerRun,
  TARGETS,
  writeResults,
} from './report.ts';
import { type Fixture, MAINS, prepareFixture, type ServerUnderTest } from './servers.ts';
import { readSettings, type Settings } from './settings.ts';
import { type TimedStart, timedStart } from './start.ts';

const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** Starts a server `settings.starts` times, keeps the last one running, and measures its memory around the calls. */
async function measure(settings: Settings, fixture: Fixture, server: ServerUnderTest): Promise<ServerRun> {
  const env = { ...fixture.commonEnv, ...server.env };
  const starts: TimedStart[] = [];
  for (let index = 0; index < settings.starts; index++) {
    const start = await timedStart(server.main, env);
    starts.push(start);
    log(`${server.name}: start ${index + 1} ready in ${start.readyMs} ms, ${start.cpuMs ?? 'n/a'} ms CPU`);
    if (index < settings.starts - 1) {
      const stopping = performance.now();
      await start.service.stop();
      log(`${server.name}: stopped in ${Math.round(performance.now() - stopping)} ms`);
    }
  }
  const { service } = starts.at(-1) as TimedStart;
  try {
    const pid = service.child.pid ?? 0;
    await sleep(settings.settleSeconds.afterReady);
    const idle = await readMemory(pid, service.adminUrl);
    log(`${server.name}: idle RSS ${idle.rssMB} MB, heap used ${idle.heapUsedMB} MB`);
    const endpoint: Endpoint = { mcpUrl: service.mcpUrl, apiKey: fixture.apiKey, protocol: settings.protocol };
    const call = toolCaller(endpoint);
    const args = await server.callArguments(call);
    // One answer checked in full: the substring test under load would not tell a wrong answer apart.
    await call(server.tool, args);
    log(`${server.name}: ${settings.calls} × ${server.tool}, ${settings.concurrency} in flight`);
    const calls = await makeCalls(endpoint, server.tool, args, settings.calls, settings.concurrency);
    log(`${server.name}: ${calls.callsPerSecond} calls/s; waiting ${settings.settleSeconds.afterCalls} s`);
    await sleep(settings.settleSeconds.afterCalls);
    const afterCalls = await readMemory(pid, service.adminUrl);
    log(`${server.name}: RSS ${afterCalls.rssMB} MB (peak ${afterCalls.peakRssMB} MB) after the calls`);
    const ready = starts.map((start) => start.readyMs);
    const listening = starts.flatMap((start) => (start.listeningMs === undefined ? [] : [start.listeningMs]));
    const cpu = starts.flatMap((start) => (start.cpuMs === undefined ? [] : [start.cpuMs]));
    return {
      name: server.name,
      description: server.description,
      starts: starts.map(({ readyMs, listeningMs, cpuMs }) => ({ readyMs, listeningMs, cpuMs })),
      readyMs: { median: median(ready), max: Math.max(...ready), min: Math.min(...ready) },
      listeningMedianMs: listening.length > 0 ? median(listening) : undefined,
      cpuMedianMs: cpu.length > 0 ? median(cpu) : undefined,
      idle,
      calls,
      afterCalls,
      meetsTargets: meetsTargets(server.name, Math.max(...ready), idle, afterCalls),
    };
  } finally {
    await service.stop();
  }
}

async function main(): Promise<void> {
  const settings = readSettings();
  const missing = settings.servers.map((name) => MAINS[name]).filter((main) => !existsSync(main));
  if (missing.length > 0) {
    throw new Error(`${missing.join(', ')} missing: run \`npm run build\` at the repository root first`);
  }
  exitOnSignals();
  const startedAt = new Date().toISOString();
  log('starting a throwaway PostgreSQL and Redis, and preparing what the servers need');
  const [postgres, redis] = await Promise.all([startPostgres({ database: 'footprint' }), startRedis()]);
  try {
    const fixture = await prepareFixture(postgres, redis.url);
    try {
      const runs: ServerRun[] = [];
      for (const name of settings.servers) runs.push(await measure(settings, fixture, fixture.servers[name]));
      const report: FootprintReport = {
        benchmark: 'footprint',
        startedAt,
        settings,
        machine: describeMachine({ postgres: fixture.postgresVersion }),
        targets: TARGETS,
        runs,
      };
      process.stdout.write(`\n${formatTable(report)}\n\n`);
      for (const file of await writeResults(report, RESULTS_DIR)) log(`wrote ${file}`);
      const troubled = runs.filter((run) => run.calls.non2xx + run.calls.failedResults + run.calls.socketErrors > 0);
      if (troubled.length > 0) {
        log(`warning: ${troubled.map((run) => run.name).join(', ')} had failed calls; their figures are suspect`);
        process.exitCode = 1;
      }
    } finally {
      await fixture.close();
    }
  } finally {
    await Promise.all([postgres.destroy(), redis.destroy()]);
  }
}

await main();
