import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Columns padded to their widest cell, the first left-aligned and the figures right-aligned. */
export function textTable(headings: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headings, ...rows];
  const widths = headings.map((_, column) => Math.max(...all.map((row) => row[column]?.length ?? 0)));
  const line = (row: readonly string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)));
  return all.map((row) => line(row).join('  ')).join('\n');
}

/** The same as a Markdown table; `textColumns` leading columns are left-aligned, the rest right-aligned. */
export function markdownTable(
  headings: readonly string[],
  rows: readonly (readonly string[])[],
  textColumns = 1,
): string {
  return [
    `| ${headings.join(' | ')} |`,
    `|${headings.map((_, column) => (column < textColumns ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/**
 * Writes `<benchmark>-<startedAt>.json`, which keeps every figure of the run, and
 * `<benchmark>-latest.md`, the page a reader opens, to `dir`; returns their paths.
 */
export async function writeResults(
  dir: string,
  benchmark: string,
  startedAt: string,
  report: unknown,
  markdown: string,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stamp = startedAt.replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  const json = join(dir, `${benchmark}-${stamp}.json`);
  const page = join(dir, `${benchmark}-latest.md`);
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(page, markdown);
  return [json, page];
}
