import pg from 'pg';
import { type PreparedStatements, preparedStatementsOf } from './prepared-statements.js';

export interface PipelineStep {
  sql: string;
  values?: readonly unknown[];
  /** Whether the step's rows are decoded and returned; a step that returns none is not even described. */
  returnsRows?: boolean;
  /** At most this many rows (Execute's limit; 0, the default, is all); past it the portal is suspended. */
  limit?: number;
}

export interface StepResult<Row = unknown> {
  fields: pg.FieldDef[];
  rows: Row[];
  /** From the step's command tag (INSERT 0 1 → 1); null for a suspended step. */
  rowCount: number | null;
  /** The step stopped at its `limit` with rows left. */
  more: boolean;
}

export interface PipelineOptions {
  /** Rows as arrays instead of objects keyed by column name. */
  rowMode?: 'array';
  /** Type parsers for the rows returned (pg's defaults otherwise). */
  types?: pg.CustomTypesConfig;
  /** How parameter values become wire text (pg's own conversion of dates, arrays and JSON otherwise). */
  valueMapper?: (value: unknown) => unknown;
}

/**
 * Runs `steps` in one round trip: every Bind and Execute, and a single Sync, leave in one write,
 * and Postgres answers them all with one ReadyForQuery. Outside a BEGIN the steps form one implicit
 * transaction (Postgres commits them together at the Sync, or rolls them all back when one fails),
 * so a multi-statement write needs no BEGIN and COMMIT round trips. Each statement is prepared by
 * name once per connection, so repeated statements skip Postgres's parse and analysis. A failure
 * rejects with Postgres's error (code, constraint and all, as pg reports it); the steps after the
 * failed one did not run.
 */
export function runPipeline(
  client: pg.ClientBase,
  steps: readonly PipelineStep[],
  options: PipelineOptions = {},
): Promise<StepResult[]> {
  if (steps.length === 0) return Promise.resolve([]);
  const statements = preparedStatementsOf(client);
  return new Promise((resolve, reject) => {
    client.query(
      new Pipeline(statements, steps, options, (error, results) => {
        if (error) reject(error);
        else resolve(results);
      }),
    );
  });
}

/** The parts of pg's Connection (lib/connection.js) the pipeline writes with. */
interface Connection {
  parse(options: { name: string; text: string }): void;
  bind(options: { statement: string; values: readonly unknown[]; valueMapper?: (value: unknown) => unknown }): void;
  describe(options: { type: 'P'; name: string }): void;
  execute(options: { portal: string; rows: number }): void;
  close(options: { type: 'S'; name: string }): void;
  sync(): void;
}

/** pg's Result (lib/result.js), which @types/pg does not declare: it decodes rows with the type parsers. */
interface RowDecoder {
  fields: pg.FieldDef[];
  rows: unknown[];
  rowCount: number | null;
  addFields(fields: unknown): void;
  parseRow(values: unknown): unknown;
  addRow(row: unknown): void;
  addCommandComplete(message: unknown): void;
}
const RowDecoderClass = (pg as unknown as { Result: new (rowMode: string | undefined, types: unknown) => RowDecoder })
  .Result;
const prepareValue = (pg as unknown as { utils: { prepareValue(value: unknown): unknown } }).utils.prepareValue;

/**
 * pg's Query, written differently: `prepare` writes the whole pipeline, and the handlers count
 * completions to know which step an answer belongs to. pg's client hands every message of the
 * exchange to the active query, and ends it at the ReadyForQuery (or at the first error).
 */
class Pipeline extends pg.Query {
  private readonly results: RowDecoder[];
  private readonly suspended: boolean[];
  private stage = 0;
  private decodeError: Error | undefined;

  constructor(
    private readonly statements: PreparedStatements,
    private readonly steps: readonly PipelineStep[],
    private readonly options: PipelineOptions,
    done: (error: Error | null, results: StepResult[]) => void,
  ) {
    // pg copies a config object with its property descriptors (a few µs a query); a text is not copied.
    super(steps[0]?.sql ?? '');
    const self = this as unknown as { queryMode: string; callback: (error: Error | null) => void };
    self.queryMode = 'extended';
    self.callback = (error: Error | null) => {
      const failure = error ?? this.decodeError;
      if (failure) {
        this.statements.failed(this.steps[this.stage]?.sql);
        done(failure, []);
        return;
      }
      this.statements.succeeded();
      done(
        null,
        this.results.map((result, index) => ({
          fields: result.fields,
          rows: result.rows,
          rowCount: this.suspended[index] ? null : result.rowCount,
          more: this.suspended[index] ?? false,
        })),
      );
    };
    this.results = steps.map(() => new RowDecoderClass(options.rowMode, options.types));
    this.suspended = steps.map(() => false);
  }

  requiresPreparation(): boolean {
    return true;
  }

  /** Called by pg's Query.submit with the socket corked, so everything leaves in one write. */
  prepare(connection: Connection): void {
    const named = this.steps.map((step) => ({ step, ...this.statements.use(step.sql) }));
    // Names are resolved first, so what they evicted is closed before the first statement runs.
    for (const name of this.statements.takeClosing()) connection.close({ type: 'S', name });
    const valueMapper = this.options.valueMapper ?? prepareValue;
    const parsed = new Set<string>();
    for (const { step, name, parse } of named) {
      // A statement that appears twice in the pipeline is parsed at its first appearance only.
      if (parse && !parsed.has(name)) {
        connection.parse({ name, text: step.sql });
        parsed.add(name);
      }
      connection.bind({ statement: name, values: step.values ?? [], valueMapper });
      if (step.returnsRows) connection.describe({ type: 'P', name: '' });
      connection.execute({ portal: '', rows: step.limit ?? 0 });
    }
    connection.sync();
  }

  handleRowDescription(message: { fields: unknown }): void {
    this.results[this.stage]?.addFields(message.fields);
  }

  handleDataRow(message: { fields: unknown }): void {
    // Postgres sends a statement's rows whether or not it was described; only described ones are decoded.
    if (!this.steps[this.stage]?.returnsRows || this.decodeError) return;
    const result = this.results[this.stage] as RowDecoder;
    try {
      result.addRow(result.parseRow(message.fields));
    } catch (error) {
      // A type parser that throws fails the pipeline once Postgres has answered it all.
      this.decodeError = error as Error;
    }
  }

  handleCommandComplete(message: unknown): void {
    this.results[this.stage]?.addCommandComplete(message);
    this.stage += 1;
  }

  handlePortalSuspended(): void {
    this.suspended[this.stage] = true;
    this.stage += 1;
  }

  handleEmptyQuery(): void {
    this.stage += 1;
  }

  handleReadyForQuery(): void {
    (this as unknown as { callback: (error: Error | null) => void }).callback(null);
  }
}
