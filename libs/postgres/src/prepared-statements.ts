/** Named statements kept prepared per connection; the least recently used is closed beyond this. */
const MAX_PREPARED_PER_CONNECTION = 100;

/**
 * The statements one connection has prepared for pipelines, least recently used first. A name is
 * trusted only after the pipeline that parsed it succeeded; after a failure, every name that
 * pipeline introduced (and the failed statement's) is closed at the start of the connection's next
 * pipeline (closing an unknown name is not an error) and never used again. The names carry their
 * own prefix, so they never meet the ones pg's own named queries track.
 */
export class PreparedStatements {
  private readonly names = new Map<string, string>();
  private readonly pending = new Set<string>();
  private closing: string[] = [];
  private counter = 0;

  /** The statement's name, and whether the pipeline must parse it (true for each use in the one that introduces it). */
  use(sql: string): { name: string; parse: boolean } {
    const known = this.names.get(sql);
    this.names.delete(sql);
    if (known !== undefined) {
      this.names.set(sql, known);
      return { name: known, parse: this.pending.has(known) };
    }
    const name = `flotilla_pipeline_${++this.counter}`;
    this.names.set(sql, name);
    this.pending.add(name);
    if (this.names.size > MAX_PREPARED_PER_CONNECTION) {
      const [oldestSql, oldestName] = this.names.entries().next().value as [string, string];
      this.names.delete(oldestSql);
      this.closing.push(oldestName);
    }
    return { name, parse: true };
  }

  /** Names to close before anything else in the next pipeline. */
  takeClosing(): string[] {
    const names = this.closing;
    this.closing = [];
    return names;
  }

  succeeded(): void {
    this.pending.clear();
  }

  /** Forgets what the failed pipeline introduced, and `statement` too (its plan may be what failed). */
  failed(statement: string | undefined): void {
    for (const [sql, name] of this.names) {
      if (this.pending.has(name) || sql === statement) {
        this.names.delete(sql);
        this.closing.push(name);
      }
    }
    this.pending.clear();
  }
}

const byConnection = new WeakMap<object, PreparedStatements>();

/** One registry per physical connection: a pooled client is the same connection each time it is checked out. */
export function preparedStatementsOf(client: object): PreparedStatements {
  const key = (client as { connection?: object }).connection ?? client;
  let statements = byConnection.get(key);
  if (!statements) {
    statements = new PreparedStatements();
    byConnection.set(key, statements);
  }
  return statements;
}
