import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ToolOutcome } from '@flotilla/testkit';
import { type Fleet, type ServerName, TENANT } from '../clients/fleet.js';
import type { LoadStep } from './load.js';

/**
 * What the load does on each server: every other call a write whose effect can be checked afterwards (a database
 * insert with an idempotency key, a file written, a notification sent), the others a read.
 */
export interface Workload {
  call(step: LoadStep): Promise<ToolOutcome>;
  /** Acknowledged writes, and how many of them are really there (notifications: delivered). */
  verify(): Promise<{ acknowledged: number; found: number }>;
}

const DELIVERY_WAIT_MS = 30_000;

export function workloadFor(server: ServerName, fleet: Fleet, tag: string): Workload {
  const written: string[] = [];
  const call = (step: LoadStep, name: string, args: Record<string, unknown>) =>
    step.client.callTool({ name, arguments: args }) as Promise<ToolOutcome>;
  const keep = (outcome: ToolOutcome, value: () => string) => {
    if (outcome.isError !== true) written.push(value());
    return outcome;
  };
  switch (server) {
    case 'database':
      return {
        async call(step) {
          if (step.n % 2 === 1) return call(step, 'query', { sql: 'SELECT count(*)::int AS n FROM orders' });
          const outcome = await call(step, 'insert_rows', {
            table: 'orders',
            rows: [{ customer_id: 1, status: 'placed' }],
            idempotencyKey: `${tag}-${step.clientIndex}-${step.n}`,
          });
          return keep(outcome, () => String((outcome.structuredContent as { rows: { id: string }[] }).rows[0]?.id));
        },
        async verify() {
          const { rows } = await fleet.adminQuery(
            'database',
            'SELECT count(*)::int AS n FROM orders WHERE id = ANY($1::bigint[])',
            [written],
          );
          return { acknowledged: written.length, found: rows[0].n };
        },
      };
    case 'files':
      return {
        async call(step) {
          if (step.n % 2 === 1) return call(step, 'read_file', { path: 'README.md' });
          const path = `load/${tag}/${step.clientIndex}-${step.n}.txt`;
          const outcome = await call(step, 'write_file', { path, content: contentOf(path) });
          return keep(outcome, () => path);
        },
        async verify() {
          const contents = await Promise.all(
            written.map((path) => readFile(join(fleet.filesRoot, TENANT, path), 'utf8').catch(() => undefined)),
          );
          const found = contents.filter((content, i) => content === contentOf(written[i] as string)).length;
          return { acknowledged: written.length, found };
        },
      };
    case 'notifications':
      return {
        async call(step) {
          if (step.n % 2 === 1) return call(step, 'list_channels', {});
          const outcome = await call(step, 'send_notification', {
            channel: 'ops-webhook',
            body: `Load ${tag} ${step.clientIndex}-${step.n}.`,
            idempotencyKey: `${tag}-${step.clientIndex}-${step.n}`,
          });
          return keep(outcome, () => (outcome.structuredContent as { id: string }).id);
        },
        async verify() {
          const admin = await fleet.admin('notifications');
          try {
            const deadline = Date.now() + DELIVERY_WAIT_MS;
            for (;;) {
              const { rows } = await admin.query(
                "SELECT count(*)::int AS n FROM notifications.notification WHERE id = ANY($1::uuid[]) AND status = 'delivered'",
                [written],
              );
              if (rows[0].n === written.length || Date.now() > deadline) {
                return { acknowledged: written.length, found: rows[0].n };
              }
              await new Promise((resolve) => setTimeout(resolve, 200));
            }
          } finally {
            await admin.end();
          }
        },
      };
  }
}

const contentOf = (path: string) => `written by the load as ${path}\n`;
