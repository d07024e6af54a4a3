import { connectMcpClient, TOOL_ERROR_META_KEY, type ToolOutcome } from '@flotilla/testkit';
import type { Client } from '@modelcontextprotocol/client';

/** The two wire eras agents speak today: the stateless 2026-07-28 one and the 2025-11-25 initialize handshake. */
export type Era = 'modern' | 'legacy';

export interface CallRecord {
  readonly era: Era;
  /** When the call started and ended, in ms since the load began. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** `ok`, the SPEC §2 code of a tool error, or `THROWN` when the client itself failed (HTTP 5xx, reset, …). */
  readonly outcome: string;
  readonly detail?: string;
  /** A tool error's SPEC §2 `retryable`; absent for `ok` and `THROWN`. */
  readonly retryable?: boolean;
}

export interface LoadStep {
  readonly client: Client;
  readonly era: Era;
  /** Which client (0 … clients-1) and which of its calls (0, 1, …): unique together, for idempotency keys. */
  readonly clientIndex: number;
  readonly n: number;
}

export interface LoadOptions {
  readonly url: string;
  readonly token: string;
  /** Clients calling in parallel, each one call at a time; even-numbered ones speak 2026-07-28, odd ones 2025-11-25. */
  readonly clients: number;
  /** One call; its result is classified here. Record what it wrote *after* it succeeded, to check nothing is lost. */
  readonly call: (step: LoadStep) => Promise<ToolOutcome>;
  /** Pause between one client's calls; keeps the load steady rather than saturating two cores. */
  readonly pauseMs?: number;
}

export interface Load {
  readonly records: readonly CallRecord[];
  /** ms since the load began, on the clock the records use. */
  now(): number;
  /** Ends the loops after their current call and closes the clients. */
  stop(): Promise<void>;
}

/**
 * A steady load of official MCP clients through one URL, recording every call's outcome. Clients connect before the
 * load starts (a fault test is about calls, not about the handshake); each then calls in a loop until stopped.
 */
export async function startLoad(options: LoadOptions): Promise<Load> {
  const eras: Era[] = Array.from({ length: options.clients }, (_, i) => (i % 2 === 0 ? 'modern' : 'legacy'));
  const clients = await Promise.all(eras.map((era) => connectMcpClient(options.url, { token: options.token, era })));
  const origin = performance.now();
  const now = () => performance.now() - origin;
  const records: CallRecord[] = [];
  let stopping = false;
  const loops = clients.map(async (client, clientIndex) => {
    const era = eras[clientIndex] as Era;
    for (let n = 0; !stopping; n++) {
      const startedAt = now();
      const { outcome, detail, retryable } = await options
        .call({ client, era, clientIndex, n })
        .then(classify, (error: Error & { data?: { status?: unknown } }) => ({
          outcome: 'THROWN',
          // SDK 2.x puts the HTTP status of a refused request in `data`, not in the message.
          detail:
            typeof error.data?.status === 'number' ? `HTTP ${error.data.status}: ${error.message}` : error.message,
          retryable: undefined,
        }));
      records.push({
        era,
        startedAt,
        endedAt: now(),
        outcome,
        ...(detail ? { detail } : {}),
        ...(retryable === undefined ? {} : { retryable }),
      });
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  });
  return {
    records,
    now,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    },
  };
}

function classify(result: ToolOutcome): { outcome: string; detail?: string; retryable?: boolean } {
  if (result.isError !== true) return { outcome: 'ok' };
  const payload = result._meta?.[TOOL_ERROR_META_KEY] as
    | { code?: string; message?: string; retryable?: boolean }
    | undefined;
  return { outcome: payload?.code ?? 'MALFORMED', detail: payload?.message, retryable: payload?.retryable };
}

/** Calls and their outcomes, e.g. `{ calls: 812, ok: 790, UNAVAILABLE: 22 }`. */
export function tally(records: readonly CallRecord[]): { calls: number; ok: number; [outcome: string]: number } {
  const counts: { calls: number; ok: number; [outcome: string]: number } = { calls: records.length, ok: 0 };
  for (const record of records) counts[record.outcome] = (counts[record.outcome] ?? 0) + 1;
  return counts;
}

/** A few distinct failure details, for the assertion message when a call failed that should not have. */
export function failureSample(records: readonly CallRecord[], limit = 5): string[] {
  const details = records.filter((record) => record.outcome !== 'ok').map((r) => `${r.outcome}: ${r.detail ?? ''}`);
  return [...new Set(details)].slice(0, limit);
}

/**
 * Seconds from `since` until calls succeed again for good: the end of the last failed call that started after
 * `since`, or 0 when none failed. Only meaningful when the load went on for a while after it.
 */
export function recoverySeconds(records: readonly CallRecord[], since: number): number {
  const failures = records.filter((record) => record.startedAt >= since && record.outcome !== 'ok');
  if (failures.length === 0) return 0;
  return Math.max(0, Math.max(...failures.map((record) => record.endedAt)) - since) / 1000;
}
