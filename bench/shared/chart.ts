import { writeFile } from 'node:fs/promises';
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** One line of a chart: a system (or a system at a setting) and its measured points. */
export interface Series {
  readonly name: string;
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** One panel: how one figure (calls/s, p99 ms, …) grows with one setting (concurrency, rows, bytes). */
export interface Panel {
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  /** Settings such as concurrency 1, 8, 32, 128 are spread evenly on a log scale. */
  readonly xScale?: 'log' | 'linear';
  readonly yScale?: 'log' | 'linear';
  readonly series: readonly Series[];
}

/**
 * The panels side by side as one SVG document, drawn by Vega-Lite from the measured figures
 * (no browser or canvas needed: Vega renders SVG in Node.js on its own).
 */
export async function chartSvg(title: string, panels: readonly Panel[]): Promise<string> {
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    hconcat: panels.map((panel) => ({
      title: panel.title,
      width: 320,
      height: 220,
      data: {
        values: panel.series.flatMap((series) => series.points.map((point) => ({ ...point, series: series.name }))),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'x',
          type: 'quantitative',
          title: panel.xTitle,
          scale: { type: panel.xScale ?? 'log' },
          axis: { values: [...new Set(panel.series.flatMap((series) => series.points.map((point) => point.x)))] },
        },
        y: { field: 'y', type: 'quantitative', title: panel.yTitle, scale: { type: panel.yScale ?? 'linear' } },
        color: { field: 'series', type: 'nominal', title: null },
      },
    })),
  };
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Writes the chart to `path` (an `.svg` next to the run's JSON) and returns the path. */
export async function writeChart(path: string, title: string, panels: readonly Panel[]): Promise<string> {
  await writeFile(path, await chartSvg(title, panels));
  return path;
}
