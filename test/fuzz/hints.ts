import fc from 'fast-check';
import type { ServerName } from '../clients/fleet.js';
import { type JsonSchema, type PropertyHints, textUnit } from './schema-arbitraries.js';

// Domain values for properties whose meaning a JSON Schema cannot say: real tables and SQL for the database, paths
// for the files server (writes confined to the scratch folder SCRATCH, so a run stays repeatable and cheap), channels
// and recipients for the notifications server. Each mixes known-good values with random and hostile ones.

/** Where the files server's writing tools write, below the tenant's workspace root. */
export const SCRATCH = 'fuzz';

const segment = fc.oneof(
  fc.constantFrom('a', 'b', 'c.txt', 'd.md', '.hidden', 'x y', 'ü.txt', 'emoji-😀'),
  fc.string({ unit: textUnit, minLength: 1, maxLength: 12 }),
);
/** Paths inside the scratch folder only: no segment may climb out of it. */
const scratchPath = fc
  .array(segment, { minLength: 1, maxLength: 3 })
  .map((parts) => `${SCRATCH}/${parts.join('/')}`)
  .filter((path) => !path.split('/').some((part) => part === '..' || part === '.'));
/** Paths a sandbox must refuse: out of the root, absolute, NUL, the denied .git, over-long. */
const hostilePath = fc.constantFrom(
  '../escape.txt',
  `${SCRATCH}/../../escape.txt`,
  '/etc/passwd',
  `${SCRATCH}/\u0000x`,
  '.git/config',
  `${SCRATCH}/${'a'.repeat(300)}`,
  `${SCRATCH}//double`,
  'C:\\Windows',
  '~/x',
);
const writePath = fc.oneof({ weight: 5, arbitrary: scratchPath }, { weight: 1, arbitrary: hostilePath });
/** Small, cheap targets to read (never the 40 MiB tree, which makes grep time out by design). */
const readPath = fc.oneof(
  fc.constantFrom('README.md', 'notes/todo.md', 'notes', '', '.', '.git', 'missing.txt', SCRATCH),
  writePath,
);
const grepPath = fc.oneof(fc.constantFrom('README.md', 'notes', 'notes/todo.md', SCRATCH, 'missing'), hostilePath);

const WRITING_FILES_TOOLS = new Set(['write_file', 'edit_file', 'make_directory', 'move', 'delete']);

const columns = fc.oneof(
  fc.constantFrom('id', 'status', 'total', 'customer_id', 'created_at', 'email'),
  fc.string({ unit: textUnit, minLength: 1, maxLength: 63 }),
);
const SQL = [
  'SELECT 1',
  'SELECT * FROM orders',
  'SELECT * FROM orders WHERE id = $1',
  'SELECT $1::text',
  'SELECT $1::int + $2::int',
  'SELECT count(*) FROM order_items',
  'WITH x AS (SELECT 1 AS n) SELECT * FROM x',
  'SELECT generate_series(1, 50000)',
  'SELECT 1; SELECT 2',
  'DELETE FROM orders',
  'UPDATE orders SET status = $1',
  'SELECT pg_sleep(0.01)',
  'SELECT * FROM pg_stat_activity',
  'SELECT current_user, current_database()',
  'SELECT 1/0',
  "SELECT 'a' || $1",
  'SELECT',
  '',
];

function databaseHints(): PropertyHints {
  return (property) => {
    switch (property) {
      case 'table':
        return fc.oneof(
          fc.constantFrom('orders', 'order_items', 'customers', 'products', 'pg_class'),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 63 }),
        );
      case 'schema':
        return fc.oneof(
          fc.constantFrom('public', 'pg_catalog', 'information_schema'),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 63 }),
        );
      case 'sql':
        return fc.oneof(
          { weight: 3, arbitrary: fc.constantFrom(...SQL) },
          { weight: 1, arbitrary: fc.string({ unit: textUnit, minLength: 1, maxLength: 200 }) },
        );
      case 'column':
        return columns;
      case 'returning':
        return fc.array(columns, { minLength: 0, maxLength: 3 });
      default:
        return undefined;
    }
  };
}

function filesHints(tool: string): PropertyHints {
  const writes = WRITING_FILES_TOOLS.has(tool);
  return (property) => {
    switch (property) {
      case 'path':
        return tool === 'grep' ? grepPath : writes ? writePath : readPath;
      case 'from':
      case 'to':
        return writePath;
      case 'pattern':
        return fc.oneof(
          fc.constantFrom('Read', '^#', '(a|b)*c', '[', '(?i)matrix', '\\p{L}+', 'a{1000}', '(((((a)))))'),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 40 }),
        );
      case 'glob':
        return fc.oneof(
          fc.constantFrom('*', '**', '**/*.md', '{a,b}', '[abc]', '?', '***', '[', '{'),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 40 }),
        );
      case 'content':
        return fc.string({ unit: textUnit, maxLength: 200 });
      default:
        return undefined;
    }
  };
}

function notificationsHints(): PropertyHints {
  return (property, schema: JsonSchema) => {
    switch (property) {
      case 'channel':
        return fc.oneof(
          fc.constantFrom('ops-webhook', 'team-email', 'nope'),
          fc.string({ unit: textUnit, minLength: 1, maxLength: 63 }),
        );
      case 'to':
        return schema.type === 'array'
          ? fc.array(
              fc.oneof(
                fc.constantFrom('ops@example.com', 'a@b.c', 'x@evil.test', 'not-an-address'),
                fc.string({ unit: textUnit, minLength: 1, maxLength: 40 }),
              ),
              { minLength: 1, maxLength: 3 },
            )
          : undefined;
      default:
        return undefined;
    }
  };
}

export function hintsFor(server: ServerName): (tool: string) => PropertyHints {
  if (server === 'database') return () => databaseHints();
  if (server === 'files') return filesHints;
  return () => notificationsHints();
}
